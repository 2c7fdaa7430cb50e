package github

import "errors"

// Errors the Go-level helpers return; the admin API maps them to 404, 409 and
// 422.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
	ErrRevoked  = errors.New("token is revoked")
)
