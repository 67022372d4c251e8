#!/usr/bin/python3
"""The plain client of scripts/bench-placement: the shared-prefix workload of `llmctl bench
--shared-prefix-words` sent straight to a running llama-server's /completion, with no id_slot, so
the server picks each request's slot itself (by prompt similarity). Streams every reply and prints
one line of key=value figures: aggregate tokens/s (client wall clock), TTFT median and p99
(nearest rank, as llmctl bench computes them), and the prompt and cached prompt tokens summed
from the servers' timings (prompt_n + cache_n, cache_n), and how many requests each slot served.

usage: prefix_client.py URL REQUESTS CONCURRENCY MAX_TOKENS SHARED_WORDS OWN_WORDS"""
import asyncio
import json
import math
import sys
import time
from collections import Counter

import aiohttp

# Word for word the prompts of tools/llmctl/bench_prompt.cpp (change both together).
SHARED_WORDS = ["the", "quiet", "river", "carried", "old", "boats", "past", "a", "town",
                "where", "nobody", "ever", "locked", "their", "doors", "at", "night"]
OWN_WORDS = ["tell", "me", "about", "one", "small", "detail", "people", "in", "that", "town", "remember"]
# Long enough for any run of this benchmark; a hung server fails the run instead of stalling it.
REQUEST_TIMEOUT_S = 600


def bench_prompt(index, own_words, shared_words):
    words = [SHARED_WORDS[i % len(SHARED_WORDS)] for i in range(shared_words)]
    words.append(str(index))
    words += [OWN_WORDS[(index + i) % len(OWN_WORDS)] for i in range(1, own_words)]
    return " ".join(words)


def percentile(samples, fraction):
    ordered = sorted(samples)
    rank = math.ceil(fraction * len(ordered))
    return ordered[max(rank, 1) - 1]


async def one(session, url, index, args, out):
    body = {"prompt": bench_prompt(index, args["own"], args["shared"]), "n_predict": args["max_tokens"],
            "stream": True, "temperature": 0, "ignore_eos": True, "cache_prompt": True}
    start = time.perf_counter()
    first = None
    tokens = 0
    final = None
    async with session.post(url + "/completion", json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"request {index}: HTTP {response.status}: {await response.text()}")
        async for line in response.content:
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk.get("stop"):
                final = chunk
                continue
            tokens += 1  # one streamed chunk per generated token
            if first is None:
                first = time.perf_counter()
    if final is None or "timings" not in final:
        raise RuntimeError(f"request {index}: the stream ended without the final chunk's timings")
    timings = final["timings"]
    out.append({"ttft": first - start, "tokens": tokens, "prompt": timings["prompt_n"] + timings["cache_n"],
                "cached": timings["cache_n"], "slot": final.get("id_slot", -1)})


async def main():
    url, requests, concurrency, max_tokens, shared, own = sys.argv[1], *map(int, sys.argv[2:7])
    args = {"max_tokens": max_tokens, "shared": shared, "own": own}
    next_index = 0
    out = []

    async def worker(session):
        nonlocal next_index
        while next_index < requests:
            index = next_index
            next_index += 1
            await one(session, url, index, args, out)

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    # A fresh connection per request, as ../shared/bench/direct_client.py does: llama-server may
    # close a connection after a streamed reply, and a reused one then fails mid-write.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*[worker(session) for _ in range(min(concurrency, requests))])
        wall = time.perf_counter() - start
    ttft_ms = [1000 * r["ttft"] for r in out]
    tokens = sum(r["tokens"] for r in out)
    slots = ",".join(f"{slot}:{count}" for slot, count in sorted(Counter(r["slot"] for r in out).items()))
    print(f"requests={len(out)} concurrency={concurrency} tokens={tokens} wall_s={wall:.3f} "
          f"agg_tok_s={tokens / wall:.1f} ttft_ms_p50={percentile(ttft_ms, 0.5):.2f} "
          f"ttft_ms_p99={percentile(ttft_ms, 0.99):.2f} prompt_tokens={sum(r['prompt'] for r in out)} "
          f"cached_prompt_tokens={sum(r['cached'] for r in out)} slots={slots}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    asyncio.run(main())
