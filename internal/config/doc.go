// Package config loads and validates the Gatehouse gateway's YAML config
// file, whose keys are fixed by CONTRACT.md ("Config file").
//
// Load (or Parse, on bytes) decodes the file into a typed Config, applies
// defaults (ApplyDefaults) and resolves relative file paths against the
// config file's folder; Validate then checks the whole config and reports
// every problem at once as a *ValidationError, each problem naming its YAML
// path and, for a parsed file, its line.
//
// # Security model
//
// The config is trusted operator input, but it decides what the gateway
// trusts, so mistakes fail closed: unknown keys (at any depth), duplicate
// keys, YAML anchors, aliases and merge keys, multiple documents and files
// over 1 MiB are errors rather than being ignored. ${NAME} references are
// expanded after the YAML is parsed, into single scalar values, so an
// environment variable can never inject structure; an unset variable is an
// error, and a client secret that expands to an empty string is an error
// rather than silently turning the client public. URLs that the gateway
// fetches from or sends users to must be https, with plain http accepted
// only on a loopback host. Secret values (client secrets, the store DSN) have
// the Secret type, which redacts itself when printed or logged, and problem
// messages never quote them. Validate checks the shape and consistency of
// the config and that the input files it names exist; parsing those files
// (metadata, JWKS, policies) and checking their content is the job of the
// packages that use them.
package config
