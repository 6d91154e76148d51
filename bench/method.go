package main

// method is the "how it is measured" part of docs/BENCHMARKS.md.
const method = `
## How it is measured

Everything runs on one machine: the harness, a private MariaDB (storetest's
server: temporary data directory, random port, 1 GiB buffer pool,
` + "`innodb_flush_log_at_trx_commit = 1`" + `), and jobd and jobd-master as
processes built from the checkout, each with a generated TOML config
(heartbeats, ` + "`prefetch = 0`" + `, ` + "`max_connections = 8`" + ` and the
rest at their defaults; log level info). Each throughput run gets a fresh
database and fresh processes. The source is ` + "`bench/`" + `.

- **Raw spawn rate** (the ceiling): 32 goroutines run
  ` + "`exec.Command(\"/bin/true\").Run()`" + ` in a loop for 2 seconds, right
  before each throughput run; each run's ratio is to the spawn rate measured
  just before it, because on this shared machine the ceiling moves from
  minute to minute (by a third and more).
- **Locale**: the harness, and so every process it starts, runs with
  ` + "`LANG=C`" + ` and no ` + "`LC_*`" + `, the locale a systemd service gets
  where none is configured. GNU true given an argument (the launcher
  ` + "`/bin/true {id}`" + `) calls setlocale before it looks at it; in a locale
  such as C.UTF-8 that opens and maps the locale's files, and on the AMD
  machine that made the launcher alone a third dearer than the ceiling's
  ` + "`/bin/true`" + `, so that no worker could come near the ratio. When the
  shell's locale is another, the spawn rate of ` + "`/bin/true 1`" + ` and one more
  drain at concurrency 32 run in it, and are shown beside.
- **Throughput**: for each jobd instance a warm-up job is inserted and the
  instance started with ` + "`poll_interval = \"0\"`" + ` (it claims once at start,
  then only when polled); the warm-up job done proves that start-up claim has
  come and gone. Then the N jobs are inserted in one ` + "`INSERT … SELECT … FROM\nseq_1_to_N`" + `, the clock starts, each instance gets ONE poll, and the clock
  stops at the first probe that finds no job left: ` + "`SELECT 1 FROM jobs WHERE\nstatus IN ('waiting','accepted','running') LIMIT 1`" + ` every 20 ms, an index
  dive that costs the server nothing measurable (a COUNT(*) would). So the time
  runs from the poll to the last row written done. Every run checks that no
  job left waiting before the poll and that every job ended done with result
  ok, and says so when not. When jobs are left waiting while none is claimed
  or running for 300 ms, every worker has stopped claiming with work left
  (with ` + "`poll_interval = \"0\"`" + ` it would wait forever; in production, until its
  next poll_interval): the harness polls again, notes the stall under the
  table, and the time includes it.
- **Statements per job**: MariaDB's ` + "`Questions`" + ` (every statement a
  client sends, BEGIN and COMMIT included) and ` + "`Com_*`" + ` counters before and
  after the drain, less the harness's probes and its second SHOW STATUS,
  divided by N. The server is private, so the rest is jobd's: claims, starts,
  outcomes, heartbeats. With client-side interpolation (jobd's setting) each
  statement is one round trip. **CPU per job**: utime + stime of the jobd
  processes and of mariadbd from /proc/PID/stat around the drain (10 ms
  ticks), divided by N; the launchers' own CPU is not included.
- **Latency**: a jobd-master (` + "`poke_throttle_interval = \"100ms\"`" + `) and one
  jobd registered with it (target ` + "`lat`" + `, concurrency 8,
  ` + "`poll_interval = \"0\"`" + `); the launcher is ` + "`bench/stamp DIR {id}`" + `, a tiny Go
  program built by the harness that writes ` + "`time.Now().UnixNano()`" + ` as the
  first thing of its main. Per job: INSERT (autocommit), poke the master (or
  poll jobd), then read the row's status every millisecond until it is done.
  Jobs are spaced 150 ms apart, more than the poke throttle, so each poke is
  the first of a quiet period and goes out at once (as with the default
  500 ms and pokes that far apart). "→ launcher running" in the latency table
  includes what it takes a Go program to be exec'd and reach main, shown on
  its own in the last row (measured in the same run: the harness starts the
  stamp 50 times itself); the goals take that median out, and show both.
  "→ row done" has the 1 ms probe's resolution.
- **Claim at scale**: 1,000 and 1,000,000 waiting jobs over 10 targets with
  priorities 0-2 (the big table: 100,000 in the quick run), served by one jobd
  with concurrency 8 per target, so its first batch is 80 jobs. First batch:
  5 times per table (3 in the quick run), a jobd is started on the table with
  the launcher ` + "`/bin/sleep 600`" + `, so it claims one batch at start and nothing
  more; "jobd start → first row claimed" probes every millisecond (it includes
  the process's start and connecting); once its 80 launchers run (counted in
  /proc) it is stopped (` + "`shutdown_timeout = \"0s\"`" + `). The table holds 80
  more rows per start, so the last start still finds 1,000 (or 1,000,000).
  The claim transaction's own statements (the ` + "`SELECT … ORDER BY … FOR UPDATE SKIP LOCKED`" + `, the rows it examined, the UPDATE that marks the rows,
  the COMMIT) come from MariaDB's slow query log with ` + "`long_query_time = 0`" + `,
  turned on for these starts only. The goal compares SELECT + UPDATE, the
  part that could grow with the table. Then the drain: a jobd with
  ` + "`/bin/true {id}`" + ` from its first claim, over the whole table for 1,000 rows
  and over 5 s for the big one (a COUNT of the done rows at the end, which
  reads only those index entries).
- **Memory**: one jobd (one target, concurrency 32): VmRSS a second after it
  started with nothing to do; the largest VmRSS sampled every 50 ms while
  10,000 jobs are queued and running; VmRSS a second after the last is done,
  and VmHWM. jobd-master: idle, then with 500 fake workers, connections from
  the harness (` + "`rpc.Dial`" + ` + register-worker, 4 targets each, answering
  every request), after one poke of a target they all serve (timed until each
  was polled).
`
