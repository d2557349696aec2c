// Package loadkit is the library behind the gateway's load tools
// (internal/tools/loadsignin, internal/tools/loadexchange): everything a
// tool needs to measure one kind of request against a real `gatehouse
// serve`, apart from preparing the requests themselves.
//
// A tool's main function is Main, given the tool's flag parser and its
// Measurer. The parser registers the shared flags (Flags.Register) beside
// the tool's own and validates them (Flags.Validate). Main then prepares
// a Bench (Prepare): a private run folder, a gateway binary (built with
// BuildGateway unless -gatehouse names one) and a free loopback port. The
// Measurer writes the tool's config there (BaseConfig, RenderConfig,
// WriteRunFiles), pre-signs its requests in parallel (Presign) and hands
// them to Bench.Measure. Measure starts the gateway (StartGateway, with
// GOGC, GOMEMLIMIT and GOMAXPROCS from the flags), waits for /readyz
// (Gateway.WaitReady), sends the warm-up and then the measured requests
// from a keep-alive worker pool (Drive), samples the gateway's memory and
// CPU time from /proc (RSSSampler, ReadStatusKB, ReadCPU), optionally
// records it with perf (StartPerf), stops it, tallies its log (TallyLog)
// and returns a Measurement. The Measurer copies that into the tool's own
// report type, which embeds the shared pieces (Environment, Counts,
// Answers, Resources, Exit) between its own fields so that its JSON keys
// keep their order, and Main prints it (Print): a text table built with
// Table, or JSON (WriteJSON) with the table on stderr.
//
// By default the gateway is one instance on a SQLite file in the run
// folder. With -store postgres -dsn URL, Prepare creates a fresh database
// gh_load_<random> on that server (CreateDatabase) and Close drops it;
// Bench.Store is the store section the gateways get. With -instances N
// (N > 1, PostgreSQL only) Measure starts N gateways, each with its own
// config derived from the tool's (InstanceConfig: its own loopback port,
// the shared store, keys folder and metadata, trusted_proxies
// 127.0.0.1/32), the first one alone so that it creates the keys and
// migrates the store, and then nginx (StartNginx, NginxConf) on the
// tool's port, balancing over them with keep-alive upstream connections
// and X-Forwarded-For/-Proto/-Host; the load goes to nginx. Beside the
// gateways' CPU time (summed over instances), Measure records nginx's,
// that of every process named postgres, and the machine's busy time from
// /proc/stat, which Table.Topology prints per 1,000 requests.
//
// A request counts as completed only when the tool's Classifier gives it
// the tool's OK label; latencies are those of completed requests, and
// their percentiles are nearest-rank (Percentile, Summarize).
//
// # Security model
//
// This is test tooling. It talks only to the gateways it started, and
// to nginx in front of them, which listens on loopback only: every target
// URL is checked to be an http URL on a loopback IP address
// (CheckLoopback) before the run, the HTTP clients ignore proxy settings
// and follow no redirects, and each answer is read only up to a bound.
// The run folder (config, database, keys, gateway logs, nginx files) is
// created private (0700) and its files 0600, and it is removed at the end
// unless -keep is given. The PostgreSQL database is the run's own, named
// at random, and dropped at the end (even with -keep); its URL is written
// only into the private run folder's configs. Secrets reach the gateway
// only through the environment variables a tool passes in Plan.Env, which
// are never printed. The run is bounded: it stops after -n requests (or
// the tool's timed duration), at -timeout, or at Plan.Deadline (before
// pre-signed credentials expire), whichever comes first, and always stops
// the gateways and nginx it started (SIGTERM, then SIGKILL after a grace
// period). Gateway log lines are tallied by level, message, reason and
// status only, and non-JSON lines are kept truncated and bounded in
// number.
package loadkit
