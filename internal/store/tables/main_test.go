package tables_test

import (
	"os"
	"testing"

	"github.com/adfscim/adfscim/internal/store/azuritetest"
)

func TestMain(m *testing.M) { os.Exit(azuritetest.Main(m)) }
