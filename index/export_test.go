package index

// AdviseEach makes dropOpenedTables take the older kernels' way (a
// madvise a table) while set.
var AdviseEach = &adviseEach
