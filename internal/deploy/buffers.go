package deploy

import "sync"

// copyBuffers lends the edge's proxies the 32 KiB buffers they copy bodies
// through. Without a pool, httputil.ReverseProxy allocates one per request,
// which for small answers is most of the garbage the edge makes.
var copyBuffers = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != 32<<10 {
		return
	}
	buf = buf[:cap(buf)]
	b.p.Put(&buf)
}
