package freeradius

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// configTemplate is a self-contained radiusd.conf: one virtual server
// with an auth and an acct listener, pap, chap, mschap (with MPPE keys),
// files and detail. Every reply carries a Message-Authenticator so that a
// client that requires one meets FreeRADIUS's implementation of it.
const configTemplate = `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
libdir = /usr/lib/freeradius
logdir = {{DIR}}
raddbdir = {{DIR}}
confdir = {{DIR}}
radacctdir = {{DIR}}
run_dir = {{DIR}}
db_dir = {{DIR}}
name = freeradius
pidfile = {{DIR}}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {
	destination = stdout
	auth = no
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}
proxy_requests = no
thread pool {
	start_servers = 2
	max_servers = 4
	min_spare_servers = 1
	max_spare_servers = 4
	max_requests_per_server = 0
}
{{CLIENTS}}modules {
	pap {
	}
	chap {
	}
	mschap {
		use_mppe = yes
		require_encryption = no
		require_strong = no
	}
	files {
		filename = {{DIR}}/users
	}
	detail {
		filename = {{DIR}}/detail
		permissions = 0600
		header = "%t"
	}
}
server default {
	listen {
		type = auth
		ipaddr = {{LISTEN}}
		port = {{AUTHPORT}}
	}
	listen {
		type = acct
		ipaddr = {{LISTEN}}
		port = {{ACCTPORT}}
	}
	authorize {
		files
		chap
		mschap
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
		Auth-Type MS-CHAP {
			mschap
		}
	}
	preacct {
	}
	accounting {
		detail
	}
	post-auth {
		update reply {
			Message-Authenticator := 0x00
		}
		Post-Auth-Type REJECT {
			update reply {
				Message-Authenticator := 0x00
			}
		}
	}
}
`

// validate checks the options that go into radiusd.conf.
func validate(o Options) error {
	if o.Secret == "" {
		return fmt.Errorf("Options.Secret is empty")
	}
	if _, err := quote(o.Secret); err != nil {
		return fmt.Errorf("Options.Secret: %w", err)
	}
	for _, c := range o.Clients {
		// Addresses and prefixes only: anything else could inject
		// configuration.
		if _, err := netip.ParsePrefix(c); err != nil {
			if _, err := netip.ParseAddr(c); err != nil {
				return fmt.Errorf("Options.Clients: %q is neither an address nor a prefix", c)
			}
		}
	}
	if _, err := netip.ParseAddr(o.ListenAddr); err != nil {
		return fmt.Errorf("Options.ListenAddr: %w", err)
	}
	if (o.Ports.Auth == 0) != (o.Ports.Acct == 0) {
		return fmt.Errorf("Options.Ports: set both or neither: %+v", o.Ports)
	}
	return nil
}

// config returns radiusd.conf for o (validated, defaults and ports
// filled in) with its files in dir.
func config(dir string, o Options) (string, error) {
	if strings.ContainsAny(dir, " \t\n\"'\\{}$#") {
		return "", fmt.Errorf("directory %q needs quoting in radiusd.conf", dir)
	}
	secret, err := quote(o.Secret)
	if err != nil {
		return "", err
	}
	var clients strings.Builder
	for i, c := range o.Clients {
		fmt.Fprintf(&clients, "client c%d {\n\tipaddr = %s\n\tsecret = %s\n}\n", i, c, secret)
	}
	return strings.NewReplacer(
		"{{DIR}}", dir,
		"{{CLIENTS}}", clients.String(),
		"{{LISTEN}}", o.ListenAddr,
		"{{AUTHPORT}}", fmt.Sprint(o.Ports.Auth),
		"{{ACCTPORT}}", fmt.Sprint(o.Ports.Acct),
	).Replace(configTemplate), nil
}

// quote makes s a single-quoted string of radiusd.conf. FreeRADIUS
// takes those literally, backslashes too, except that \' is a quote.
func quote(s string) (string, error) {
	if strings.Contains(s, `\'`) || strings.HasSuffix(s, `\`) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", fmt.Errorf("%q cannot be written in radiusd.conf (a backslash before a quote or at the end, or a control character)", s)
	}
	return "'" + strings.ReplaceAll(s, `'`, `\'`) + "'", nil
}
