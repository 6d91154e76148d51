// Package jobd is the worker daemon: it claims job rows of the targets it
// serves, runs one launcher process per job, and records the outcome in the
// row.
//
// # Pools and room
//
// Each target has a pool of its own (jobs whose slot is empty) and one pool
// per configured slot, each with a concurrency limit. A worker claims only
// what its pools have room for (limit + prefetch − running − queued), so
// several workers serving one target share its work.
//
// # When it claims
//
// A pool "wants" jobs when there may be eligible rows in the table: after a
// poll request or the poll_interval tick, after a claim that filled its room
// (there may be more), and when a delayed job comes due. It stops wanting
// when a claim returns less than it asked for. A wanting pool is claimed for
// as soon as it has room, so a job that finishes makes room for the next
// one at once.
//
// # A job's way through the worker
//
//	claimed (accepted) ─▶ queued in its pool ─▶ process started ─▶ exited ─▶ outcome recorded
//
// The start ("running", time_started) and the outcome ("done", result,
// output) are written by the recorder, which batches what accumulates while
// a write is in flight: one statement for many jobs under load, at once when
// idle. If the database is down, jobs keep running and their outcomes wait in
// memory (bounded), and in spool_dir if set, until it is back.
package jobd
