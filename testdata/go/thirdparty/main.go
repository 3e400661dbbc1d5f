// Command thirdparty fills three caches from libraries nobody here wrote (Debian's packaged
// sources: hashicorp/golang-lru 0.5.4, google/btree 1.0.0, patrickmn/go-cache 2.1.0), then
// writes a Go heap dump. Each library keeps our values behind its own types and interfaces,
// so every one of ours is reached only through the library's structures:
//
//   - an LRU of 1,000 entries (simplelru: a map[interface{}]*list.Element and a container/list
//     whose elements' Value is a *simplelru.entry) after 5,000 adds: 1,000 *main.payload left;
//   - a B-tree of degree 8 holding 3,000 *main.record (its nodes' items are []btree.Item);
//   - a go-cache of 2,000 *main.blob (a map[string]cache.Item, each Item's Object an interface).
//
// With MemProfileRate = 1; after runtime.GC(), so the 4,000 evicted payloads are gone.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/google/btree"
	lru "github.com/hashicorp/golang-lru"
	cache "github.com/patrickmn/go-cache"
)

type payload struct {
	id   int
	data []byte
}

type record struct {
	key  int
	name string
}

func (r *record) Less(than btree.Item) bool { return r.key < than.(*record).key }

type blob struct {
	bytes [40]byte
	next  *blob
}

var (
	recent *lru.Cache
	tree   *btree.BTree
	store  *cache.Cache
)

func main() {
	out := flag.String("out", "thirdparty.dump", "the heap dump to write")
	flag.Parse()
	runtime.MemProfileRate = 1
	var err error
	if recent, err = lru.New(1000); err != nil {
		panic(err)
	}
	for i := 0; i < 5000; i++ {
		recent.Add(i, &payload{id: i, data: make([]byte, 48)})
	}
	tree = btree.New(8)
	for i := 0; i < 3000; i++ {
		tree.ReplaceOrInsert(&record{key: i * 7 % 3001, name: fmt.Sprint("r", i)})
	}
	store = cache.New(cache.NoExpiration, 0)
	for i := 0; i < 2000; i++ {
		store.Set(fmt.Sprint("k", i), &blob{}, cache.NoExpiration)
	}
	runtime.GC()
	f, err := os.Create(*out)
	if err != nil {
		panic(err)
	}
	debug.WriteHeapDump(f.Fd())
	f.Close()
	fmt.Println(recent.Len(), "in the LRU,", tree.Len(), "in the B-tree,", store.ItemCount(), "in go-cache")
}
