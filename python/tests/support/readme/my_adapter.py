# The adapter printed in the original Snakepit's v0.7.5 README, "Writing Python Adapters",
# unchanged except for `_process_item`, which the README calls but does not print.
from snakepit_bridge import BaseAdapter, tool

class MyAdapter(BaseAdapter):
    @tool
    def process_data(self, params):
        """Process data and return result."""
        return {"result": params["input"] * 2}

    @tool(supports_streaming=True)
    def batch_process(self, params, stream):
        """Stream progress updates during processing."""
        items = params["items"]
        for i, item in enumerate(items):
            result = self._process_item(item)
            stream.send({"progress": (i + 1) / len(items) * 100, "item": result})
        return {"total": len(items)}

    def _process_item(self, item):
        # Not printed in the README; doubles the item.
        return item * 2
