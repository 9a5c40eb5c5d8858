// Package local is what a source is on the host: its root, destination and
// object keys, its partition layout and filter, and the files beneath its
// root as s3ferry reads them (stat and hash without following a link the
// source does not follow, see uploader/beneath).
package local
