// Package layers holds no code, only the test that keeps the stack's layers apart: the
// packages with a service's rules (and the token primitives they use) link no framework, no
// transport and no database driver, so they can be read, tested and reused without them.
package layers
