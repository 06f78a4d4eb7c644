"""The {{name}} adapter: the tools a snakepit pool runs in its Python workers.

Try a tool without the host:
    .venv/bin/python -m snakepit_bridge --adapter {{module}}:{{class}} --call hello '{"name": "Ada"}'
or through a pool:
    snakepit call hello --args '{"name": "Ada"}'
"""

from snakepit_bridge import BaseAdapter, tool


class {{class}}(BaseAdapter):
    def initialize(self):
        # Runs once in each worker, before its first call: load models, open clients here.
        self.greeting = "Hello"

    @tool
    def hello(self, name: str) -> str:
        """Greet someone by name."""
        return f"{self.greeting}, {name}!"

    @tool
    def count(self, to: int = 3):
        """Stream the numbers from 1 to `to` as they come, then say how many there were."""
        for number in range(1, to + 1):
            yield {"number": number, "progress": number * 100 / to}
        return {"counted": to}

    @tool
    def remember(self, key: str, value, ctx):
        """Keep `value` under `key` in this session's state; return all the session keeps."""
        ctx.session[key] = value
        return dict(ctx.session)
