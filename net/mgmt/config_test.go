package mgmt

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		args string
		want Config
		err  string
	}{
		{"", Config{}, ""},
		{"ferry.kernel=0x48200000 ferry.ip=10.77.0.11/24 console=ttyAMA0", Config{Addr: netip.MustParsePrefix("10.77.0.11/24")}, ""},
		{"ferry.ip=10.77.0.11/24 ferry.mac=52:54:00:77:00:11 ferry.mtu=9000 ferry.initrd=0x1,0x2 ferry.nettest=server",
			Config{Addr: netip.MustParsePrefix("10.77.0.11/24"), MAC: "52:54:00:77:00:11", MTU: 9000}, ""},
		{"ferry.kernel=1 -- ferry.ip=10.0.0.1/8", Config{}, ""}, // the guest's words
		{"ferry.ipx=1 ferry.ip", Config{}, ""},                  // not ours (no "=": not a setting)
		{"ferry.ip=10.77.0.11", Config{}, "ferry.ip=10.77.0.11: want <IPv4 address>/<prefix length>"},
		{"ferry.ip=fd00::1/64", Config{}, "not an IPv4 address"},
		{"ferry.ip=10.77.0.11/31", Config{}, "prefix length 31"},
		{"ferry.ip=10.77.0.0/24", Config{}, "network address"},
		{"ferry.ip=10.77.0.255/24", Config{}, "broadcast address"},
		{"ferry.ip=10.77.0.11/24 ferry.ip=10.77.0.12/24", Config{}, "ferry.ip= given twice"},
		{"ferry.mac=52:54:00:77:00", Config{}, "not a 6-byte MAC"},
		{"ferry.mac=01:00:5e:00:00:01", Config{}, "multicast"},
		{"ferry.mtu=abc", Config{}, "ferry.mtu=abc: not a number"},
		{"ferry.mtu=70000", Config{}, "out of range"},
	} {
		got, err := ParseConfig(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseConfig(%q) = %+v, %v; want error containing %q", tc.args, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Addr != tc.want.Addr || got.MAC != tc.want.MAC || got.MTU != tc.want.MTU {
			t.Errorf("ParseConfig(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	if _, _, err := (Config{}).check(); err == nil || !strings.Contains(err.Error(), "ferry.ip=") {
		t.Errorf("empty config: %v", err)
	}
	_, mtu, err := Config{Addr: netip.MustParsePrefix("10.77.0.11/24")}.check()
	if err != nil || mtu != DefaultMTU {
		t.Errorf("default MTU: %d, %v", mtu, err)
	}
}
