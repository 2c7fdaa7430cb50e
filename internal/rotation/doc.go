// Package rotation is rotor's engine: the rotation protocol of DESIGN.md
// (mint → check → apply → verify → promote → retire, with rollback) and the
// interfaces it needs from the outside world: Source (where tokens come
// from), Target (where they go), Store (what is remembered) and Sealer (how
// token material is kept at rest).
//
// Every step is persisted before the next begins and every step is
// idempotent, so a run interrupted anywhere resumes safely.
package rotation
