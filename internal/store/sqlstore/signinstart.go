package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// pgxConn is what pgx's database/sql driver connection (stdlib.Conn)
// offers: the native connection, whose batches are pipelined. Asserting
// this interface keeps the package free of a driver import.
type pgxConn interface {
	Conn() *pgx.Conn
}

// StartSignIn implements sp.SignInStarter. On PostgreSQL, through pgx's
// driver, the replay record, the pending request's DELETE ... RETURNING and
// the identity lookup are one pgx batch: sent together and answered
// together, one round trip, run by PostgreSQL as one implicit transaction
// (all or none). Each statement is the one MarkAssertionUsed,
// ConsumeRequest and LookupExternal run, so the atomicity those promise
// holds. On SQLite, or another driver, the three methods run one after the
// other, stopping at a replay or a failure as the SP would.
func (s *Store) StartSignIn(ctx context.Context, st sp.SignInStart) (sp.SignInStarted, error) {
	if st.Issuer == "" || st.AssertionID == "" {
		return sp.SignInStarted{}, errors.New("sqlstore: start sign-in: empty issuer or assertion ID")
	}
	if s.d == PostgreSQL {
		out, ok, err := s.startSignInBatch(ctx, st)
		if ok {
			return out, err
		}
	}
	return sp.StartSignInSteps(ctx, st, s, s, s)
}

// startSignInBatch runs StartSignIn's statements as one pgx batch. ok is
// false when the connection is not pgx's, and the caller falls back.
func (s *Store) startSignInBatch(ctx context.Context, st sp.SignInStart) (out sp.SignInStarted, ok bool, err error) {
	if s.stmts.isClosed() {
		return out, true, fmt.Errorf("sqlstore: start sign-in: %w", ErrClosed)
	}
	var span trace.Span
	ctx, span = s.spans.start(ctx)
	defer func() { endSpan(span, err) }()

	conn, err := s.db.Conn(ctx)
	if err != nil {
		return out, true, s.wrap("start sign-in", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc, isPgx := dc.(pgxConn)
		if !isPgx {
			return errNotPgx
		}
		ok = true
		var b pgx.Batch
		b.Queue(s.stmts.text(markAssertionSQL), st.Issuer, st.AssertionID, toMicros(st.ReplayUntil), toMicros(st.Now))
		if st.RequestID != "" {
			b.Queue(s.stmts.text(consumeRequestSQL), st.RequestID, toMicros(st.Now))
		}
		b.Queue(s.stmts.text(lookupExternalSQL), st.External.Issuer, st.External.NameID)
		res := pc.Conn().SendBatch(ctx, &b)
		if err := readSignInBatch(res, st, &out); err != nil {
			_ = res.Close()
			return err
		}
		return res.Close()
	})
	if errors.Is(err, errNotPgx) {
		return sp.SignInStarted{}, false, nil
	}
	if err != nil {
		return sp.SignInStarted{}, true, s.wrap("start sign-in", err)
	}
	return out, true, nil
}

var errNotPgx = errors.New("not a pgx connection")

// readSignInBatch reads the batch's results in the order they were queued.
func readSignInBatch(res pgx.BatchResults, st sp.SignInStart, out *sp.SignInStarted) error {
	tag, err := res.Exec()
	if err != nil {
		return fmt.Errorf("mark assertion used: %w", err)
	}
	if tag.RowsAffected() == 0 {
		out.Replay = fmt.Errorf("sqlstore: mark assertion used: %w", sp.ErrReplay)
	}
	if st.RequestID != "" {
		r := sp.PendingRequest{ID: st.RequestID}
		var created, expires int64
		err := res.QueryRow().Scan(&r.RelayState, &r.BrowserBinding, &r.ReturnTo, &r.Region, &created, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows):
			out.RequestErr = fmt.Errorf("sqlstore: consume request: %w", sp.ErrNotFound)
		case err != nil:
			return fmt.Errorf("consume request: %w", err)
		default:
			r.CreatedAt, r.ExpiresAt = fromMicros(created), fromMicros(expires)
			out.Request = r
		}
	}
	rows, err := res.Query()
	if err != nil {
		return fmt.Errorf("lookup identity: %w", err)
	}
	users, err := scanUserRows(rows)
	rows.Close()
	if err != nil {
		return fmt.Errorf("lookup identity: %w", err)
	}
	if len(users) == 0 {
		out.UserErr = fmt.Errorf("sqlstore: lookup identity: %w", sp.ErrNotFound)
	} else {
		out.User = directory.SPUser(users[0])
	}
	if out.Replay != nil {
		// As the SP decides: a replay stops the sign-in before the request
		// and the user matter. (The batch consumed the request: the replayed
		// response's request was consumed by its first use anyway.)
		out.Request, out.RequestErr, out.User, out.UserErr = sp.PendingRequest{}, nil, sp.User{}, nil
	}
	return nil
}
