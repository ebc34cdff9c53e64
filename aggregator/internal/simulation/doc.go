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
// TestSimulatedMonth runs one-shot commands, once each (the harness
// retries nothing). TestNightsOnRealDaemons runs `agent run` per branch on
// an accelerated clock (BRANCHWATCH_CLOCK_RATE, shared/simtime: fast in
// the idle hours, slower from 21:00 to 01:30 and 04:15 to 07:15 so that
// real work on a loaded machine stays short in simulated time): the
// nights follow the daemons' own schedules and retries, the harness only
// injects faults (S3 outages of 10 to 60 minutes across 22:00 on several
// nights, 503 bursts, PostgreSQL restarted mid-dump, an agent killed
// mid-upload and started again, a wrong database password for a night)
// and looks at the bucket and the aggregator's checks and alerts (the
// agent check, from the agents' status documents, included).
//
// The short form (3 branches, 2 nights) runs in `make test`; the full one
// (TestNightsOnRealDaemons: 8 branches, 30 nights; TestSimulatedMonth: 20
// branches, 30 nights) with BRANCHWATCH_MONTH=full or -month.full.
package simulation
