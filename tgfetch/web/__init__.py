"""The live dashboard and Prometheus metrics (issue 17): `--web [HOST:]PORT`, `tgfetch dashboard`, for one
machine and for a cluster.

Light on purpose: `tgfetch.config` imports `web.bind`, so nothing here may pull in the web stack.
The modules, each importing only those above it in this list:

    bind      `[HOST:]PORT`, loopback or not (standard library only)
    records   what the pages show (frozen dataclasses = the JSON of /api/*) and `DashboardSource`
    statedb   a job's state DB, read-only: `tgfetch dashboard --state-db`, timelines, run history
    cluster   a cluster job's Redis, read-only: `tgfetch dashboard --redis`, `--web` on coordinator / worker
    views     the running job's objects as records (scheduler, stats, plan, accounts, files)
    live      `LiveSource`: the job running in this process, told of each round by the job
    hub       one status per tick for every open page (server-sent events); the speed series
    metrics   /metrics: prometheus_client, the dashboard's own registry and collector
    security  `Guard`: read-only, the token, the Host check, strict headers
    app       the Starlette app: pages, assets, JSON API, /events, /metrics
    server    uvicorn's Server inside the job's event loop; the bind errors; the made-up token
"""
