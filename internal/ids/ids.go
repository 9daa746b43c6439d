package ids

import (
	"sync"
	"time"

	"github.com/gofrs/uuid/v5"
)

// Generator makes UUIDv7 strings. The zero value uses time.Now; it is safe
// for concurrent use.
type Generator struct {
	once  sync.Once
	clock func() time.Time
	gen   *uuid.Gen
}

// New returns a Generator whose ids carry the time clock gives (time.Now
// when nil).
func New(clock func() time.Time) *Generator {
	return &Generator{clock: clock}
}

// New returns a new id, e.g. "019aef3c-5b2e-7c41-9d0a-3f1e2b4c5d6e".
func (g *Generator) New() string {
	g.once.Do(func() {
		clock := g.clock
		if clock == nil {
			clock = time.Now
		}
		g.gen = uuid.NewGenWithOptions(uuid.WithEpochFunc(clock))
	})
	u, err := g.gen.NewV7()
	if err != nil {
		// Only when crypto/rand fails, which Go treats as fatal too.
		panic("ids: UUIDv7: " + err.Error())
	}
	return u.String()
}
