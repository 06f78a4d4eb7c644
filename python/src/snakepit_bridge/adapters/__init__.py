"""The original Snakepit's (v0.4) adapters package; ``adapters.base`` holds ``BaseAdapter``."""
