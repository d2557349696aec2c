// Package apps is the gateway's registry of app-facing SAML applications:
// the service providers the IdP (package idp) issues assertions to, who may
// use each of them, and what each receives. It implements
// idp.ServiceProviderRegistry and idp.AccessPolicy over an immutable
// snapshot that is swapped atomically, so a request always sees one
// consistent set of applications.
//
// Applications come from two places: the config file's `applications`
// section (read-only at run time) and the admin API, which persists them in
// a Store (the gateway's SQL or memory store). Metadata is given inline, as
// a file (config only) or as a URL that is fetched at startup and then
// every RefreshInterval.
//
// # Security model
//
// Every application is built by idp.NewServiceProvider, which validates its
// SP metadata (no DTD, one entity, ACS URLs https or http on loopback only,
// never javascript: or data:, keys strong enough) and its attribute
// mapping. A change through the admin API is validated completely (the
// metadata URL is fetched once, with the size cap and the https-only rule
// of metadata.Fetch) before anything is stored; a rejected change leaves
// both the store and the snapshot exactly as they were, and the error names
// the offending field. Two applications may never share an SP entity ID, so
// an AuthnRequest's Issuer resolves to exactly one application.
//
// A metadata URL that stops answering, or starts serving a document that
// fails validation or names another entity, never replaces the last good
// copy: the failure is logged and counted
// (gatehouse_app_metadata_refresh_failures_total) and the copy in use
// stays. Stored applications keep their last good copy in the store, so a
// restart while the URL is down still serves them; one whose metadata
// cannot be loaded at all is skipped (logged, gatehouse_app_unavailable=1)
// rather than stopping the gateway, while a config-file application that
// cannot be loaded is a startup error. A copy whose validUntil has passed is
// not served (the application resolves as unknown) until a fresh copy
// arrives.
//
// Access is deny by default: an application with empty assignments is
// available to nobody. Metadata URLs are fetched by the gateway itself, so
// whoever holds the admin token can make it issue GET requests to https
// hosts it can reach (and http on loopback); guard the token accordingly.
package apps
