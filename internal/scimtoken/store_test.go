package scimtoken

import "time"

// The Store behaviour tests are the conformance suite
// internal/store/storetest.RunSCIMTokens, which the memory store, SQLite
// and PostgreSQL run; internal/store/sqlstore runs Services of two
// gateway instances over one database.

// testNow has no sub-microsecond part, so it round-trips through SQL.
var testNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
