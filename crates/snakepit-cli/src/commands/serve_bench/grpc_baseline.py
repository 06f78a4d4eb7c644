"""The grpcio baseline of `snakepit serve-bench`: a trivial function (`ping`) served by a grpcio
server (asyncio API) in one process and called by a grpcio client (asyncio API) at N
concurrent calls in another, for S seconds after a warm-up.

`python serve_bench_grpc.py server` serves on 127.0.0.1 and prints its port;
`python serve_bench_grpc.py client PORT CONCURRENCY SECONDS` prints one JSON object:
calls, errors, calls_per_s, p50_us, p99_us. The function answers what the showcase's `ping`
answers; requests and answers are JSON bytes (no protobuf codegen needed).
"""

import asyncio
import json
import sys
import time

import grpc

METHOD = "/snakepit.bench.Bench/Ping"


def _identity(data: bytes) -> bytes:
    return data


async def _ping(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    del request, context
    return b'{"status":"ok","message":"pong"}'


async def serve() -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "snakepit.bench.Bench",
        {
            "Ping": grpc.unary_unary_rpc_method_handler(
                _ping, request_deserializer=_identity, response_serializer=_identity
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


async def load(port: int, concurrency: int, seconds: float) -> dict[str, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            METHOD, request_serializer=_identity, response_deserializer=_identity
        )
        await channel.channel_ready()
        latencies: list[float] = []
        errors = 0
        measuring = False
        stop = False

        async def caller() -> None:
            nonlocal errors
            while not stop:
                started = time.perf_counter()
                try:
                    await call(b"{}")
                except grpc.RpcError:
                    if measuring:
                        errors += 1
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - started)

        tasks = [asyncio.create_task(caller()) for _ in range(concurrency)]
        await asyncio.sleep(0.5)
        measuring = True
        began = time.perf_counter()
        await asyncio.sleep(seconds)
        measuring = False
        elapsed = time.perf_counter() - began
        stop = True
        await asyncio.gather(*tasks)
    latencies.sort()

    def pick(q: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[round((len(latencies) - 1) * q)] * 1e6)

    return {
        "calls": len(latencies),
        "errors": errors,
        "calls_per_s": round(len(latencies) / elapsed),
        "p50_us": pick(0.50),
        "p99_us": pick(0.99),
    }


def main() -> None:
    if sys.argv[1] == "server":
        asyncio.run(serve())
    else:
        port, concurrency, seconds = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(load(port, concurrency, seconds))), flush=True)


if __name__ == "__main__":
    main()
