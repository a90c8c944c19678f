package redact

import (
	"fmt"
	"strings"
)

// MaxScannedMessage caps the messages WithoutRuns scans.
const MaxScannedMessage = 64 << 10

// MinRun is the shortest run of a record's bytes that WithoutRuns
// recognises in an error: shorter runs would match ordinary words.
const MinRun = 12

// WithoutRuns returns err with every run of MinRun or more bytes of rec in
// its text replaced by [Placeholder]: for a store's error that may quote the
// record it refused, which holds the tokens in an encoding of the store's
// own. A message longer than MaxScannedMessage is not shown at all. The
// cost is linear in the sizes of the message and the record. It still
// unwraps to err.
func WithoutRuns(err error, rec []byte) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) > MaxScannedMessage {
		return &scrubbedError{msg: fmt.Sprintf("the database's message (%d bytes) is not shown: it may quote the record", len(msg)), err: err}
	}
	// Every window of the message, then one pass over the record.
	at := make(map[string][]int)
	for i := 0; i+MinRun <= len(msg); i++ {
		at[msg[i:i+MinRun]] = append(at[msg[i:i+MinRun]], i)
	}
	covered := make([]bool, len(msg))
	found := false
	for j := 0; j+MinRun <= len(rec) && len(at) > 0; j++ {
		if ps, ok := at[string(rec[j:j+MinRun])]; ok {
			for _, i := range ps {
				for k := i; k < i+MinRun; k++ {
					covered[k] = true
				}
			}
			delete(at, string(rec[j:j+MinRun]))
			found = true
		}
	}
	if !found {
		return err
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if !covered[i] {
			b.WriteByte(msg[i])
			continue
		}
		b.WriteString(Placeholder)
		for i+1 < len(msg) && covered[i+1] {
			i++
		}
	}
	return &scrubbedError{msg: b.String(), err: err}
}
