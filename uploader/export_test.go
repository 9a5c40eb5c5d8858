package uploader

// MemoryPeak is the most buffer capacity u's uploads held at once.
func MemoryPeak(u *Uploader) int64 { return u.buffers.peak.Load() }
