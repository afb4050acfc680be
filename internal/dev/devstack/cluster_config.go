package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"dealflow/internal/dev/certs"
)

// numHistoryShards is fixed for the life of a cluster's database: a server
// keeps the count the database was created with (and logs a warning when
// its configuration says otherwise). Shards are
// placed on the history processes by hashing their addresses, and a
// process that is given none never reports serving (it waits for its first
// shard): with 4 shards, as in the server's development configuration, one
// of two processes got none in about one start in eight here. With 16 that
// is 2 in 2^16, and each process holds about half.
const numHistoryShards = 16

// servicePorts are the ports of one Temporal service in one process.
type servicePorts struct{ GRPC, Membership, HTTP int }

// clusterPorts are every port the cluster listens on, all on 127.0.0.1.
type clusterPorts struct {
	frontend, internalFrontend, matching, worker servicePorts
	history                                      []servicePorts
	ui                                           int
}

// The ports the cluster picks lie below Linux's ephemeral range (32768 up),
// where FreePort's come from: the server keeps a service's ports in a
// smallint column (cluster_membership.rpc_port), and a port out of that
// range fails its start. Below it, no outgoing connection takes one either.
const lowPortMin, lowPortMax = 20000, 32000

// pickPorts gives every zero port a free one, never the same one twice.
func pickPorts(o ClusterOptions) (clusterPorts, error) {
	used := map[int]bool{}
	var err error
	pick := func(fixed int) int {
		if fixed != 0 || err != nil {
			used[fixed] = true
			return fixed
		}
		for range 1000 {
			p := lowPortMin + rand.IntN(lowPortMax-lowPortMin)
			if !used[p] && PortFree(p) {
				used[p] = true
				return p
			}
		}
		err = fmt.Errorf("no free port in %d-%d", lowPortMin, lowPortMax)
		return 0
	}
	svc := func(grpc int, http bool) servicePorts {
		s := servicePorts{GRPC: pick(grpc), Membership: pick(0)}
		if http {
			s.HTTP = pick(0)
		}
		return s
	}
	p := clusterPorts{
		frontend:         svc(o.FrontendPort, true),
		internalFrontend: svc(0, true),
		matching:         svc(0, false),
		worker:           svc(0, false),
	}
	for range o.HistoryProcesses {
		p.history = append(p.history, svc(0, false))
	}
	if !o.Headless {
		p.ui = pick(o.UIPort)
	}
	return p, err
}

// clusterTLS are the certificates the stack makes in its data folder.
//
//   - ca signs the frontend's server certificate and the clients'
//     certificates: a client trusts it and presents a certificate it signed.
//   - internodeCA signs the one certificate every service presents to the
//     others, as server and as client (history, matching, the internal
//     worker and the internal frontend talk mTLS among themselves). It is a
//     CA of its own so that a client certificate, which ca signs, cannot
//     pass for a service: the internal frontend grants whoever reaches it
//     the system's admin role.
type clusterTLS struct {
	ca, internodeCA           *certs.Authority
	server, internode, client certs.Pair
}

// serverName is the name the clients verify the frontend's certificate
// against (its certificates are also valid for 127.0.0.1).
const serverName = "localhost"

func makeClusterTLS(dir string) (clusterTLS, error) {
	var t clusterTLS
	var err error
	if t.ca, err = certs.LoadOrCreateCA(dir, "ca", "dealflow dev Temporal CA"); err != nil {
		return t, err
	}
	if t.internodeCA, err = certs.LoadOrCreateCA(dir, "internode-ca", "dealflow dev Temporal internode CA"); err != nil {
		return t, err
	}
	names := certs.Leaf{DNSNames: []string{serverName}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	server, internode := names, names
	server.CommonName, server.Server = "temporal frontend", true
	internode.CommonName, internode.Server, internode.Client = "temporal internode", true, true
	if t.server, err = t.ca.Issue(dir, "frontend", server); err != nil {
		return t, err
	}
	if t.internode, err = t.internodeCA.Issue(dir, "internode", internode); err != nil {
		return t, err
	}
	t.client, err = t.ca.Issue(dir, "client", certs.Leaf{CommonName: "dealflow client", Client: true})
	return t, err
}

// obj is a YAML mapping, written as JSON (which YAML reads).
type obj = map[string]any

// serverConfig is the configuration of one server process; history is the
// index of its history service, or -1. It follows the server module's
// config/development-postgres12.yaml (v1.32.0), with TLS, our ports and
// databases, and smaller connection pools: a cluster holds at most about
// 35 connections, and the tests' PostgreSQL allows 100.
func (c *Cluster) serverConfig(history int, maxConns int) obj {
	o, p := c.opts, c.ports
	pg := c.pg
	store := func(db string, conns int) obj {
		return obj{"sql": obj{
			"pluginName":      "postgres12",
			"databaseName":    db,
			"connectAddr":     pg.Host,
			"connectProtocol": "tcp",
			"user":            pg.User.Username(),
			"password":        password(pg),
			"maxConns":        conns,
			"maxIdleConns":    conns,
			"maxConnLifetime": "1h",
		}}
	}
	rpc := func(s servicePorts) obj {
		r := obj{"grpcPort": s.GRPC, "membershipPort": s.Membership, "bindOnLocalHost": true}
		if s.HTTP != 0 {
			r["httpPort"] = s.HTTP
		}
		return obj{"rpc": r}
	}
	hist := p.history[0]
	if history >= 0 {
		hist = p.history[history]
	}
	frontendServer := obj{
		"certFile":          c.tls.server.CertFile,
		"keyFile":           c.tls.server.KeyFile,
		"requireClientAuth": !o.ClientCertOptional,
		"clientCaFiles":     []string{c.tls.ca.CertFile},
	}
	global := obj{
		"membership": obj{"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
		"tls": obj{
			"internode": obj{
				"server": obj{
					"certFile":          c.tls.internode.CertFile,
					"keyFile":           c.tls.internode.KeyFile,
					"requireClientAuth": true,
					"clientCaFiles":     []string{c.tls.internodeCA.CertFile},
				},
				"client": obj{"serverName": serverName, "rootCaFiles": []string{c.tls.internodeCA.CertFile}},
			},
			"frontend": obj{
				"server": frontendServer,
				"client": obj{"serverName": serverName, "rootCaFiles": []string{c.tls.ca.CertFile}},
			},
		},
	}
	if len(o.JWKSURIs) > 0 {
		global["authorization"] = obj{
			"authorizer":  "default",
			"claimMapper": "default",
			"jwtKeyProvider": obj{
				"keySourceURIs":   o.JWKSURIs,
				"refreshInterval": o.JWKSRefreshInterval.String(),
			},
		}
	}
	return obj{
		"log": obj{"stdout": true, "level": o.LogLevel},
		"persistence": obj{
			"defaultStore":     "default",
			"visibilityStore":  "visibility",
			"numHistoryShards": numHistoryShards,
			"datastores": obj{
				"default":    store(o.PersistenceDB, maxConns),
				"visibility": store(o.VisibilityDB, 2),
			},
		},
		"global": global,
		"services": obj{
			"frontend":          rpc(p.frontend),
			"internal-frontend": rpc(p.internalFrontend),
			"matching":          rpc(p.matching),
			"history":           rpc(hist),
			"worker":            rpc(p.worker),
		},
		"clusterMetadata": obj{
			"enableGlobalNamespace":    false,
			"failoverVersionIncrement": 10,
			"masterClusterName":        "active",
			"currentClusterName":       "active",
			"clusterInformation": obj{"active": obj{
				"enabled":                true,
				"initialFailoverVersion": 1,
				"rpcName":                "frontend",
				"rpcAddress":             c.Address(),
			}},
		},
		"dcRedirectionPolicy": obj{"policy": "noop"},
		"archival": obj{
			"history":    obj{"state": "disabled"},
			"visibility": obj{"state": "disabled"},
		},
		"namespaceDefaults": obj{"archival": obj{
			"history":    obj{"state": "disabled"},
			"visibility": obj{"state": "disabled"},
		}},
		"dynamicConfigClient": obj{"filepath": c.dynamicConfigPath(), "pollInterval": "10s"},
	}
}

// clusterDynamicConfig is the dynamic configuration of every process: the
// task-queue settings of DevDynamicConfig, so that benchmarks compare the
// dev server and the cluster on the same footing (eager activities are on
// by default on this server).
func clusterDynamicConfig() obj {
	one := func(v any) []obj { return []obj{{"value": v}} }
	return obj{
		"matching.numTaskqueueReadPartitions":  one(1),
		"matching.numTaskqueueWritePartitions": one(1),
		"matching.pollerScalingMinimumBacklog": one("20ms"),
		// A stopping worker's SDK (v1.51) then lets the server complete
		// its open polls instead of cancelling them, so no task handed
		// over at that moment waits out its timeout (as in compose).
		"frontend.enableCancelWorkerPollsOnShutdown": one(true),
	}
}

func (c *Cluster) dynamicConfigPath() string {
	return filepath.Join(c.opts.Dir, "config", "dynamicconfig.yaml")
}

// writeYAML writes v as JSON, which every YAML parser reads, under a
// comment saying where it comes from.
func writeYAML(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append([]byte("# Written by dealflow's devstack at each start; edits are lost.\n"), b...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600) // holds the database password
}

// uiConfig is the Web UI server's development.yaml: the frontend over mTLS
// with the client certificate, served on 127.0.0.1 over plain HTTP.
func (c *Cluster) uiConfig() obj {
	return obj{
		"temporalGrpcAddress": c.Address(),
		"host":                "127.0.0.1",
		"port":                c.ports.ui,
		"enableUi":            true,
		"defaultNamespace":    c.opts.Namespace,
		"refreshInterval":     "1m",
		"notifyOnNewVersion":  false,
		"cors":                obj{"cookieInsecure": true, "allowOrigins": []string{}},
		"tls": obj{
			"caFile":                 c.tls.ca.CertFile,
			"certFile":               c.tls.client.CertFile,
			"keyFile":                c.tls.client.KeyFile,
			"enableHostVerification": true,
			"serverName":             serverName,
		},
		"codec": obj{"endpoint": c.opts.UICodecEndpoint},
	}
}

// password is the URL's password, or "".
func password(u *url.URL) string {
	p, _ := u.User.Password()
	return p
}

// prepareDatabases creates the persistence and visibility databases when
// missing and brings their schemas up to the server's, with the schema tool
// and the schemas embedded in it: setup-schema and update-schema are no-ops
// on a database that is already there, so a second start reuses it.
func (c *Cluster) prepareDatabases(ctx context.Context) error {
	log := filepath.Join(c.opts.Dir, "logs", "schema.log")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, db := range []struct{ name, schema string }{
		{c.opts.PersistenceDB, "postgresql/v12/temporal"},
		{c.opts.VisibilityDB, "postgresql/v12/visibility"},
	} {
		wg.Go(func() {
			for _, args := range [][]string{
				{"create", "--defaultdb", c.adminDB()},
				{"setup-schema", "-v", "0.0"},
				{"update-schema", "--schema-name", db.schema},
			} {
				if errs[i] = c.sqlTool(ctx, log, db.name, args...); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		return err
	}
	return c.forgetMembers(ctx)
}

// forgetMembers deletes the membership records of the cluster's last run
// before any of its processes starts. A service starting within 20 s of
// their last heartbeat would otherwise try to join those dead hosts for
// membership.maxJoinDuration (30 s) before it looked again: a restarted
// cluster took 50 s instead of 9 to start.
func (c *Cluster) forgetMembers(ctx context.Context) error {
	u := *c.pg
	u.Path = "/" + c.opts.PersistenceDB
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("forget the last run's members: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("forget the last run's members: %w", err)
	}
	return nil
}

// adminDB is the database of the admin URL, which the schema tool connects
// to to create the others.
func (c *Cluster) adminDB() string {
	if db := strings.TrimPrefix(c.pg.Path, "/"); db != "" {
		return db
	}
	return "postgres"
}

// sqlTool runs temporal-sql-tool on database db; its output goes to log.
// The password travels in the environment, not on the command line.
func (c *Cluster) sqlTool(ctx context.Context, log, db string, args ...string) error {
	host, port, err := net.SplitHostPort(c.pg.Host)
	if err != nil {
		return fmt.Errorf("postgres URL host %q: %w", c.pg.Host, err)
	}
	all := append([]string{"--plugin", "postgres12", "--ep", host, "-p", port, "-u", c.pg.User.Username(), "--db", db}, args...)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.opts.Binaries.SQLTool, all...)
	cmd.Env = append(withoutEnv(withoutEnv(os.Environ(), "SQL_"), "TEMPORAL_"), "SQL_PASSWORD="+password(c.pg))
	out, err := cmd.CombinedOutput()
	if f, ferr := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
		fmt.Fprintf(f, "==== %s: temporal-sql-tool %s\n%s", time.Now().Format(time.RFC3339), strings.Join(all, " "), out)
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("temporal-sql-tool %s on %s: %w: %s", args[0], db, err, lastLines(string(out), 5))
	}
	return nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
