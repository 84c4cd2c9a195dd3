package netnstest

import (
	"testing"

	"github.com/nfgo/nfgo/internal/ethtool"
)

// DisableTxChecksum turns transmit checksum offload off on l (see
// ethtool.TxChecksumOff for why).
func DisableTxChecksum(tb testing.TB, l Link) {
	tb.Helper()
	if err := l.NS.Do(func() error { return ethtool.TxChecksumOff(l.Name) }); err != nil {
		tb.Fatalf("netnstest: %v", err)
	}
}
