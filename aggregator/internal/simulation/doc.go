// Package simulation is the simulated month of issue 8, as a test: branch
// agents (the real agent binary, run night after night under a simulated
// clock, each with its own database on one PostgreSQL cluster) and the
// aggregator (in-process, on the same simulated clock) share a loopback S3
// server that injects faults (5xx answers, latency, connections dropped
// mid-body); in the middle the PostgreSQL server restarts, one branch's
// database is down for a night and one agent is killed mid-upload. The
// test then checks every document, every backup and every alert, and
// prints a table of figures. It has no code of its own.
//
// The short form (a few branches, a few nights) runs in `make test`; the
// full one (20 branches, 30 nights) with BRANCHWATCH_MONTH=full or
// -month.full.
package simulation
