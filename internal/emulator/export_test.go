package emulator

// WriteFileAtomic exposes the state writer to the crash test's child.
var WriteFileAtomic = writeFileAtomic
