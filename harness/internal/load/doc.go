// Package load is the executor core of the load engine: it decides when
// iterations start and on which virtual user (VU), with k6's executors and
// their semantics, and counts what happened. HTTP requests, recording and
// thresholds live elsewhere; here the unit of work is a [Func] called with
// an [Iteration].
//
// Closed model (constant-vus, ramping-vus): each VU is a goroutine calling
// the work function back to back; an iteration's Intended time is its
// Start. A ramping-vus count follows the linear interpolation of its
// stages in steps of one VU. A VU removed by a ramp-down finishes its
// running iteration, which is cancelled if it runs past gracefulRampDown; a
// ramp-up reuses such a VU (same id) if it is still finishing.
//
// Open model (constant-arrival-rate, ramping-arrival-rate): one scheduler
// goroutine per scenario computes the n-th arrival time from the scenario
// start (never by accumulating sleeps) and hands each arrival to an idle VU
// of a pool. With no idle VU it allocates one, inline, up to MaxVUs; beyond
// that the arrival is dropped and counted — never queued, so a slow system
// cannot hide behind a backlog (no coordinated omission). Before allocating
// or dropping, the scheduler yields the processor once so that VUs that have
// just finished can return to the pool: timers wake with up to a
// millisecond or two of slack, so at high rates arrivals come in bursts, and
// without the yield a burst would drop arrivals that idle VUs could serve.
// An iteration that
// starts more than Plan.LateTolerance after its intended time is counted as
// late and still executed; the recorder measures latency from Intended.
// constant-arrival-rate starts its first arrival at once and spaces them
// timeUnit/rate apart to the nanosecond; ramping-arrival-rate places
// arrival k where the integral of the linearly interpolated rate reaches k
// (so a ramp from 0 starts after the first unit of expected work), as k6
// does.
//
// End of a scenario: at its duration no new iteration starts; running ones
// have gracefulStop to return, then their context is cancelled and they
// count as interrupted. An iteration whose context was cancelled before it
// returned — by gracefulStop, gracefulRampDown or the caller — is
// interrupted; every other one completed. Cancelling Run's context stops
// everything at once; Run returns only after every goroutine it started has
// left, so the work function must honour its context.
//
// Execution segments: a plan can be split between runners (processes,
// machines) with k6's execution segments: each runner is given its
// Plan.Segment, a [segment.Tuple], and the runners of one sequence
// together run exactly the whole plan, without talking to each other once
// started. Closed model: at every instant a runner has its segment's share
// ([segment.Tuple.Scale]) of the plan's VU count, so the counts add up;
// startVUs and every stage target are scaled with the rest. Open model:
// every runner walks the whole plan's arrival schedule and starts only the
// arrivals whose index its segment owns (the indexes are striped over the
// sequence), at the same intended times; preAllocatedVUs and maxVUs are
// scaled. An arrival index is thus started, or dropped, by exactly one
// runner, and Iteration.Index is that global index. VU ids are the plan's:
// a runner's VUs have the ids its segment owns. With no segment (or the
// whole 0:1) a run is what it was without segments.
//
// Hot path: no allocation per iteration and no goroutine per arrival; a
// handful of atomic operations per iteration for the counters that
// [Runner.Progress] reads.
package load
