package gate

import (
	"testing"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// TestMain drops the PostgreSQL databases the acceptance test creates.
func TestMain(m *testing.M) { testenv.Main(m) }
