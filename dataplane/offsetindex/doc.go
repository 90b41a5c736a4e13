// Package offsetindex provides the two sparse indexes of a log segment, in
// the byte layout they have both in memory and in their files:
//
//   - Offsets (the .index file): entries of (offset - base as uint32,
//     file position as uint32), 8 bytes each, increasing in both.
//   - Times (the .timeindex file): entries of (timestamp as int64, offset -
//     base as uint32), 12 bytes each, increasing in both.
//
// All integers are big-endian. An index is a value over a byte slice: Append
// grows it, Bytes is what goes to disk, Parse checks a file's bytes. The
// types are not safe for concurrent mutation; concurrent lookups on an
// index nobody appends to are safe.
package offsetindex
