package tokenstore_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

const (
	envSaveChild = "UCOAUTH_FILE_SAVE_CHILD" // "dir,index,procs,base-unix"
	saveProcs    = 4
	savesTotal   = 80
)

// TestFileConcurrentSavesFromProcesses: 4 OS processes save one key at
// once, each opening the directory again now and then (NewFile cleans up
// temporary files, which must spare the others' live writes). Every save
// succeeds or is superseded, the token that expires last wins whole, and no
// temporary file is left behind.
func TestFileConcurrentSavesFromProcesses(t *testing.T) {
	if v := os.Getenv(envSaveChild); v != "" {
		fileSaveChild(t, v)
		return
	}
	f := newFile(t)
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	var wg sync.WaitGroup
	for i := range saveProcs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileConcurrentSavesFromProcesses$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d,%d", envSaveChild, tokenstore.FileDir(f), i, saveProcs, base.Unix()))
		wg.Go(func() {
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "child %d: %s", i, out)
		})
	}
	wg.Wait()
	got, err := f.Load(t.Context(), "m")
	require.NoError(t, err)
	last := fmt.Sprintf("at-%02d", savesTotal-1)
	assert.Equal(t, last, got.AccessToken, "the token that expires last wins")
	assert.Equal(t, "rt-"+last, got.RefreshToken, "a record is never a mix of two saves")
	left, err := filepath.Glob(filepath.Join(tokenstore.FileDir(f), ".tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary file is left")
}

func fileSaveChild(t *testing.T, spec string) {
	p := strings.Split(spec, ",")
	require.Len(t, p, 4)
	i, _ := strconv.Atoi(p[1])
	procs, _ := strconv.Atoi(p[2])
	sec, _ := strconv.ParseInt(p[3], 10, 64)
	base := time.Unix(sec, 0)
	f, err := tokenstore.NewFile(p[0])
	require.NoError(t, err)
	for j := i; j < savesTotal; j += procs {
		if j%8 == i {
			f, err = tokenstore.NewFile(p[0]) // cleans up temporary files meanwhile
			require.NoError(t, err)
		}
		err := f.Save(t.Context(), "m", storetest.Token(fmt.Sprintf("at-%02d", j), base.Add(time.Duration(j)*time.Second)))
		if err != nil && !errors.Is(err, ucoauth.ErrSuperseded) {
			t.Fatalf("save %d: %v", j, err)
		}
		if _, err := f.Load(t.Context(), "m"); err != nil {
			t.Fatalf("load after save %d: %v", j, err)
		}
	}
}
