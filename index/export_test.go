package index

// AdviseEach makes the index advise its table mappings the older
// kernels' way (a madvise each) while set.
var AdviseEach = &adviseEach
