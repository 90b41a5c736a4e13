package partlog

import (
	"container/list"
	"os"
	"sync"
)

// DefaultMaxOpenFiles bounds the descriptors a FilePool keeps open when no
// bound is given.
const DefaultMaxOpenFiles = 1024

// DefaultIndexCacheBytes bounds the memory of loaded cold-segment indexes
// when no bound is given.
const DefaultIndexCacheBytes = 64 << 20

// FilePool bounds what many logs keep open: the descriptors of segment files
// (an LRU: cold segments are closed and reopened on demand) and the memory of
// the indexes of cold segments loaded for reads (an LRU by bytes). Active
// segments' indexes belong to their logs and are not counted.
//
// A descriptor in use (acquired and not yet released) is never closed, so
// the pool can exceed its bound by the number of concurrent users. A
// FilePool is safe for concurrent use; it has one mutex, taken last (after
// any log lock) and never held across I/O other than open and close.
type FilePool struct {
	mu       sync.Mutex
	max      int
	files    map[string]*pooledFile
	idle     *list.List // of *pooledFile with refs == 0, most recently used at the front
	open     int
	opened   uint64
	evicted  uint64
	cacheMax int
	cache    map[string]*cachedIndex
	cacheLRU *list.List // of *cachedIndex, most recently used at the front
	cacheLen int
}

// pooledFile is one open descriptor. f is read-only for holders.
type pooledFile struct {
	path string
	f    *os.File
	refs int
	elem *list.Element // in idle when refs == 0
	dead bool          // forgotten while in use: close on the last release
}

// cachedIndex is a loaded index of a cold segment.
type cachedIndex struct {
	key  string
	val  any
	size int
	elem *list.Element
}

// NewFilePool returns a pool keeping at most maxOpen descriptors open (0:
// DefaultMaxOpenFiles) and at most cacheBytes of loaded indexes (0:
// DefaultIndexCacheBytes; negative: none).
func NewFilePool(maxOpen, cacheBytes int) *FilePool {
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenFiles
	}
	if cacheBytes == 0 {
		cacheBytes = DefaultIndexCacheBytes
	}
	return &FilePool{
		max:      maxOpen,
		files:    make(map[string]*pooledFile),
		idle:     list.New(),
		cacheMax: max(cacheBytes, 0),
		cache:    make(map[string]*cachedIndex),
		cacheLRU: list.New(),
	}
}

// FilePoolStats describes a pool.
type FilePoolStats struct {
	Open       int    // descriptors open now
	MaxOpen    int    // the bound
	Opened     uint64 // descriptors opened since the pool was made
	Evicted    uint64 // idle descriptors closed to stay within the bound
	IndexBytes int    // memory of loaded cold-segment indexes
}

// Stats returns the pool's counters.
func (p *FilePool) Stats() FilePoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return FilePoolStats{Open: p.open, MaxOpen: p.max, Opened: p.opened, Evicted: p.evicted, IndexBytes: p.cacheLen}
}

// acquire returns the open descriptor of path (read-write), opening it
// (creating it when create is set) if needed. The caller must release it.
func (p *FilePool) acquire(path string, create bool) (*pooledFile, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pf, ok := p.files[path]; ok {
		if pf.refs == 0 {
			p.idle.Remove(pf.elem)
			pf.elem = nil
		}
		pf.refs++
		return pf, nil
	}
	p.evictLocked(p.max - 1)
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	pf := &pooledFile{path: path, f: f, refs: 1}
	p.files[path] = pf
	p.open++
	p.opened++
	return pf, nil
}

// release gives back a descriptor from acquire.
func (p *FilePool) release(pf *pooledFile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pf.refs--
	if pf.refs > 0 {
		return
	}
	if pf.dead {
		pf.f.Close()
		p.open--
		return
	}
	pf.elem = p.idle.PushFront(pf)
	p.evictLocked(p.max)
}

// evictLocked closes idle descriptors, least recently used first, until at
// most limit are open or none is idle.
func (p *FilePool) evictLocked(limit int) {
	for p.open > limit && p.idle.Len() > 0 {
		pf := p.idle.Remove(p.idle.Back()).(*pooledFile)
		pf.elem = nil
		delete(p.files, pf.path)
		pf.f.Close()
		p.open--
		p.evicted++
	}
}

// forget closes path's descriptor (at once if idle, else on its last
// release) and drops its cached indexes; used when a file is deleted,
// truncated or rewritten.
func (p *FilePool) forget(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pf, ok := p.files[path]; ok {
		delete(p.files, path)
		if pf.refs == 0 {
			p.idle.Remove(pf.elem)
			pf.f.Close()
			p.open--
		} else {
			pf.dead = true
		}
	}
	p.dropCachedLocked(path + indexSuffix)
	p.dropCachedLocked(path + timeIndexSuffix)
}

// cached returns the loaded index stored under key, if any.
func (p *FilePool) cached(key string) (any, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ci, ok := p.cache[key]
	if !ok {
		return nil, false
	}
	p.cacheLRU.MoveToFront(ci.elem)
	return ci.val, true
}

// storeCached keeps a loaded index of size bytes under key, evicting the
// least recently used ones beyond the cache's bound.
func (p *FilePool) storeCached(key string, val any, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if size > p.cacheMax {
		return
	}
	p.dropCachedLocked(key)
	ci := &cachedIndex{key: key, val: val, size: size}
	ci.elem = p.cacheLRU.PushFront(ci)
	p.cache[key] = ci
	p.cacheLen += size
	for p.cacheLen > p.cacheMax {
		old := p.cacheLRU.Remove(p.cacheLRU.Back()).(*cachedIndex)
		delete(p.cache, old.key)
		p.cacheLen -= old.size
	}
}

func (p *FilePool) dropCachedLocked(key string) {
	if ci, ok := p.cache[key]; ok {
		p.cacheLRU.Remove(ci.elem)
		delete(p.cache, key)
		p.cacheLen -= ci.size
	}
}

// Close closes every idle descriptor and empties the cache. Descriptors in
// use are closed on their last release.
func (p *FilePool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for path, pf := range p.files {
		delete(p.files, path)
		if pf.refs == 0 {
			p.idle.Remove(pf.elem)
			pf.f.Close()
			p.open--
		} else {
			pf.dead = true
		}
	}
	p.cache = make(map[string]*cachedIndex)
	p.cacheLRU.Init()
	p.cacheLen = 0
	return nil
}
