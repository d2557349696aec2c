package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// newErrorCounter is gatehouse_store_errors_total. Its operation label is
// the operation name the store writes in its error messages ("get
// session", "append audit"): a set fixed in this package's code.
func newErrorCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_store_errors_total",
		Help: "Store operations that failed with a database error (not a not-found or uniqueness conflict), by operation; the request they served failed closed.",
	}, []string{"operation"})
}

// Metrics returns the store's metrics for the caller to register:
// gatehouse_store_errors_total{operation}, counting the database errors
// the store returned. Not-found results, uniqueness conflicts and
// requests the caller cancelled (and sql.ErrNoRows, should it reach
// fail) are not errors of the store and are not
// counted; a failed attempt of a transaction that is retried after a
// deadlock is.
func (s *Store) Metrics() prometheus.Collector { return s.errs }

// fail wraps err, a database error of op, as "sqlstore: OP: ERR" (err
// stays in the chain) and counts it, once: an error that already passed
// through fail on its way up (a failed statement inside a transaction,
// then the transaction) is not counted again.
func (s *Store) fail(op string, err error) error {
	var counted *storeError
	if s.errs != nil && !errors.As(err, &counted) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, sql.ErrNoRows) {
		s.errs.WithLabelValues(op).Inc()
	}
	return &storeError{op: op, err: err}
}

// storeError is a database error fail counted.
type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string { return "sqlstore: " + e.op + ": " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }
