package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, as cmd/gatehouse
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, as cmd/gatehouse

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// newIssuerKey returns the trusted issuer's ES256 private key with its kid
// and alg set, and the matching public key.
func newIssuerKey() (priv, pub jwk.Key, err error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issuer key: %w", err)
	}
	if priv, err = jwk.FromRaw(ec); err != nil {
		return nil, nil, fmt.Errorf("issuer key: %w", err)
	}
	if pub, err = priv.PublicKey(); err != nil {
		return nil, nil, fmt.Errorf("issuer key: %w", err)
	}
	for _, k := range []jwk.Key{priv, pub} {
		if err := k.Set(jwk.KeyIDKey, issuerKID); err != nil {
			return nil, nil, fmt.Errorf("issuer key: %w", err)
		}
		if err := k.Set(jwk.AlgorithmKey, jwa.ES256); err != nil {
			return nil, nil, fmt.Errorf("issuer key: %w", err)
		}
	}
	return priv, pub, nil
}

// userEmail is the e-mail address of user u, the claim that names it.
func userEmail(u int) string { return fmt.Sprintf("user%05d@example.com", u) }

// newSecret returns a random client secret.
func newSecret() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("client secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// basicAuth is the client_secret_basic Authorization header value (RFC 6749
// section 2.3.1: each part form-encoded, then Basic).
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// createUsers opens (and migrates) the store st (a SQLite file relative
// to dir, or a PostgreSQL database) as cmd/gatehouse does and creates
// users 0..n-1, active, each with a distinct user name and e-mail address
// and two groups. It runs before the gateway starts, so the database is
// the tool's alone.
func createUsers(ctx context.Context, dir string, st loadkit.StoreSection, n int) error {
	if n <= 0 {
		return errors.New("create users: the number of users must be positive")
	}
	driver, dsn, dialect := "sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, st.DSN)), sqlstore.SQLite
	if st.Driver == loadkit.StorePostgres {
		driver, dsn, dialect = "pgx", st.DSN, sqlstore.PostgreSQL
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return fmt.Errorf("create users: %w", err)
	}
	defer db.Close()
	store, err := sqlstore.Open(ctx, db, dialect, sqlstore.Options{})
	if err != nil {
		return fmt.Errorf("create users: open store: %w", err)
	}
	defer store.Close()
	for u := range n {
		if _, err := store.CreateUser(ctx, sp.User{
			UserName: fmt.Sprintf("user%05d", u), Email: userEmail(u),
			Groups: []string{"engineering", fmt.Sprintf("team-%02d", u%10)}, Active: true,
		}); err != nil {
			return fmt.Errorf("create user %d: %w", u, err)
		}
	}
	return nil
}

// tokenPlan describes the subject tokens to pre-sign.
type tokenPlan struct {
	Key   jwk.Key // the trusted issuer's private key
	Users int
	Count int
	// Now is the iat of every token; exp is Now + Lifetime.
	Now      time.Time
	Lifetime time.Duration
	// Workers is the signing parallelism.
	Workers int
}

// subjectToken returns the claims of token i: the trusted issuer's, for
// the gateway, naming user i mod Users by email, with a distinct jti and
// sub.
func (p tokenPlan) subjectToken(i int) (jwt.Token, error) {
	return jwt.NewBuilder().
		Issuer(issuerURL).
		Audience([]string{tokenAudience}).
		Subject(fmt.Sprintf("corp-%08d", i)).
		JwtID(fmt.Sprintf("loadexchange-%08d", i)).
		IssuedAt(p.Now).
		Expiration(p.Now.Add(p.Lifetime)).
		Claim("email", userEmail(i%p.Users)).
		Build()
}

// exchangeBody is the form body of a token exchange of subjectToken.
func exchangeBody(subjectToken string) []byte {
	return []byte(url.Values{
		"grant_type":         {oauth.GrantTokenExchange},
		"subject_token":      {subjectToken},
		"subject_token_type": {oauth.TokenTypeJWT},
		"audience":           {serviceURL},
		"scope":              {serviceScope},
	}.Encode())
}

// presign signs p.Count subject tokens with p.Workers goroutines and
// returns the exchange bodies (see loadkit.Presign).
func presign(ctx context.Context, p tokenPlan, progress func(done int)) ([][]byte, error) {
	if p.Key == nil || p.Users <= 0 || p.Count < 0 || p.Lifetime <= 0 {
		return nil, errors.New("presign: key, users and lifetime are required")
	}
	return loadkit.Presign(ctx, p.Count, p.Workers, func(i int) ([]byte, error) {
		tok, err := p.subjectToken(i)
		var signed []byte
		if err == nil {
			signed, err = jwt.Sign(tok, jwt.WithKey(jwa.ES256, p.Key))
		}
		if err != nil {
			return nil, fmt.Errorf("presign token %d: %w", i, err)
		}
		return exchangeBody(string(signed)), nil
	}, progress)
}
