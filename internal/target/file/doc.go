// Package file is the file target: a token kept in one file (mode 0600) for
// a consumer that reads it from disk. The file is replaced atomically, so a
// reader sees the old token or the new one, never a mix or an empty file.
package file
