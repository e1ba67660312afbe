// Package toxics is flagstorm's fault library: typed network faults applied
// through Toxiproxy, Redis processes to crash, restart and fail over, and a
// Session that undoes all of it on every exit path.
//
// A [Fault] says what to break; a [Controller] breaks it: [Embedded] runs
// Toxiproxy in this process, [Remote] drives an external toxiproxy-server
// over its HTTP API, and both behave the same. A [Session] records what was
// applied and its Cleanup removes it even after Ctrl-C or a panic.
// [RedisServer] runs a real redis-server; [Failover] promotes a replica and
// moves a proxy to it.
//
// Clients reach each backend through a Toxiproxy proxy (redis,
// redis-replica, postgres): client -> proxy -> server. "Downstream" is
// server -> client (replies), "upstream" is client -> server (requests).
//
// # Fault catalogue
//
// Durations are Go durations ("100ms"); Toxiproxy counts in whole
// milliseconds (the slicer's delay in microseconds), and a duration that is
// not a whole number of that unit is rejected, not rounded. Every toxic
// fault takes a direction (default in brackets) and a toxicity: the
// probability that a connection is affected, 1 by default. Toxiproxy draws
// it once per connection (again whenever a toxic is added to or removed
// from the same proxy and direction), not per request: at 0.5 about half
// the connections suffer every request and the rest none, so a client with
// a pool of a few connections may see all or nothing.
//
//	latency     Toxiproxy "latency". Each chunk of data is held latency ±
//	            jitter (uniform) before it is passed on.
//	            latency: > 0; jitter: 0 up to latency. [downstream]; "both"
//	            adds it in each direction, twice per round trip.
//	            Symptom: every command takes latency longer (p50 of 10 PINGs
//	            at 100 ms: 101 ms); past the client's read timeout, timeouts.
//
//	blackhole   Toxiproxy "timeout" with timeout 0. Data is swallowed; the
//	            connection stays open. timeout > 0 makes Toxiproxy close the
//	            connection after that long instead. [both]
//	            Symptom: commands hang until the client's own read timeout
//	            ("i/o timeout"); new connections are accepted but the
//	            handshake hangs too. Removing it closes the connections it
//	            held, so clients reconnect.
//
//	refused     The proxy is disabled: its listener closes and its open
//	            connections are closed. No parameters, no direction;
//	            toxicity must be 0 or 1.
//	            Symptom: "connection refused" at dial (go-redis retries its
//	            dials, so a call takes 0.1-0.5 s to fail); in-flight
//	            commands get EOF. Removing it listens again on the same
//	            address.
//
//	reset       Toxiproxy "reset_peer". When data arrives the connection is
//	            reset (TCP RST; closed with EOF for connections opened before
//	            the fault), after timeout if one is set (0: at once). [both]
//	            Symptom: "connection reset by peer" or EOF; go-redis retries
//	            each command up to 3 times, ~0.5 s per failed call.
//
//	bandwidth   Toxiproxy "bandwidth". Data passes at rate_kbps KB/s (1 KB =
//	            1000 bytes). rate_kbps: > 0. [downstream]
//	            Symptom: large replies are slow (100 KB at 100 KB/s: ~1 s);
//	            small commands are barely affected.
//
//	slicer      Toxiproxy "slicer". Data is cut into pieces of
//	            average_size ± size_variation bytes with slice_delay
//	            between them. average_size: > 0; size_variation: 0 up to
//	            average_size-1; slice_delay: >= 0, whole microseconds.
//	            [downstream]
//	            Symptom: none for a correct client (it exercises partial
//	            reads); latency grows with reply size times slice_delay.
//
//	limit_data  Toxiproxy "limit_data". The connection is closed once bytes
//	            bytes have passed in that direction. bytes: > 0.
//	            [downstream]
//	            Symptom: a reply cut short and EOF, on the request that
//	            crosses the limit; connections die after a fixed amount of
//	            traffic.
//
//	slow_close  Toxiproxy "slow_close". When one side closes, the close is
//	            passed on close_delay later. close_delay: > 0. [downstream]
//	            Symptom: none while connections are open; a server-side
//	            close (timeout, restart) reaches the client late.
//
// Topology faults, on [RedisServer] processes:
//
//	crash          RedisServer.Kill (Session.Crash): SIGKILL. Data is lost,
//	               the port refuses connections; through a proxy, clients
//	               get EOF and new connections are closed at once.
//	cold restart   RedisServer.Restart (Session.ColdRestart): killed if
//	               running, started empty on the same port in the same role.
//	               Symptom: every read misses until the cache refills.
//	failover       [Failover] (Session.Failover): the primary crashes, the
//	               replica is promoted (REPLICAOF NO ONE, awaited), then the
//	               proxy moves to it and Toxiproxy closes its connections:
//	               the DNS flip. Optionally the old primary rejoins, empty,
//	               as a replica. Symptom: a few ms without a primary, which
//	               go-redis's retries usually hide (measured here: ~2 ms,
//	               0 errors, 0 acknowledged writes lost); writes acknowledged
//	               but not yet replicated at the crash are lost. Promoting
//	               after the move instead would give READONLY errors.
//
// Database faults are the same toxics on the postgres proxy.
//
// # Cleanup
//
// [Session.Cleanup] removes every fault the session applied and then calls
// ResetAll (no toxic left, every proxy enabled), moves proxies moved with
// Session.SetUpstream back, restarts crashed servers, and completes rather
// than reverses a failover (the old primary rejoins as a replica; the proxy
// stays on the new primary). It runs under a context that survives
// cancellation, bounded by [CleanupTimeout].
//
// A [Remote] server is shared, so a session over one never resets it: every
// toxic carries its run's [Owner] (run id and expiry) in its name, a proxy
// disabled by a Refused fault carries a zero-effect marker toxic named the
// same way, and Begin and Cleanup sweep ([Remote.Sweep]): they remove the
// run's own toxics and the expired ones of any flagstorm run, and enable
// the proxies whose marker is the run's or expired. Other people's toxics
// and disabled proxies, and the unexpired faults of other runs, stay. A run
// killed with SIGKILL is swept by the first run after its expiry.
//
// # Toxiproxy behaviours to know
//
// Toxiproxy's calls take no context and can hang (removing a toxic under
// traffic waits on every connection); every Controller call here returns an
// error at its deadline ([DefaultTimeout] unless configured) instead.
// Moving a proxy (SetUpstream) or enabling it makes Toxiproxy close the
// listener and listen again on the same port; when a just-closed connection
// still holds the port for a moment, Toxiproxy leaves the proxy disabled,
// and the controllers retry enabling it until the call's deadline.
// Toxiproxy's bandwidth toxic logs through zerolog's global logger; set
// github.com/rs/zerolog/log.Logger in main to silence it.
package toxics
