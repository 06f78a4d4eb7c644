"""Example adapters that ship with the bridge, ready to run as workers.

``python -m snakepit_bridge --adapter snakepit_bridge.examples.showcase:ShowcaseAdapter``
"""
