#!/bin/sh
# What the official redis, postgres, mariadb and mongo images'
# docker-entrypoint.sh do with the variables examples/docker-compose.yml
# gives them (vaultexec puts the passwords there), for Debian's servers and
# FerretDB: initialise an empty data directory with POSTGRES_USER/
# POSTGRES_PASSWORD, MARIADB_USER/MARIADB_PASSWORD or
# MONGO_INITDB_ROOT_USERNAME/MONGO_INITDB_ROOT_PASSWORD, then exec the
# server as its own user. A password is never put on a command line: it
# goes through stdin, a 0600 file or (FerretDB) the environment.
set -eu
case "${1:-}" in
redis-server)
	exec "$@"
	;;
postgres)
	shift
	PGDATA=${PGDATA:-/var/lib/postgresql/data}
	bin=/usr/lib/postgresql/15/bin
	chown postgres:postgres "$PGDATA"
	chmod 0700 "$PGDATA"
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		pw=$(mktemp)
		chown postgres "$pw"
		printf '%s' "$POSTGRES_PASSWORD" >"$pw"
		setpriv --reuid=postgres --regid=postgres --init-groups \
			"$bin/initdb" -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$pw" \
			--auth-local=trust --auth-host=scram-sha-256 >/dev/null
		rm -f "$pw"
		echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	fi
	mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
	unset POSTGRES_PASSWORD
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$PGDATA" "$@"
	;;
mariadbd)
	shift
	mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld /var/lib/mysql
	if [ ! -d /var/lib/mysql/mysql ]; then
		mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=socket \
			--skip-test-db >/dev/null
		mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
		i=0
		until mariadb --socket=/run/mysqld/init.sock -e 'SELECT 1' >/dev/null 2>&1; do
			i=$((i + 1)); [ $i -lt 120 ] || { echo "mariadbd did not start" >&2; exit 1; }
			sleep 0.5
		done
		q=$(printf '%s' "$MARIADB_PASSWORD" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")
		u=$(printf '%s' "$MARIADB_USER" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")
		printf "CREATE USER '%s'@'%%' IDENTIFIED BY '%s';\n" "$u" "$q" |
			mariadb --socket=/run/mysqld/init.sock
		for f in /docker-entrypoint-initdb.d/*.sql; do
			[ -f "$f" ] && mariadb --socket=/run/mysqld/init.sock <"$f"
		done
		mariadb-admin --socket=/run/mysqld/init.sock shutdown
		wait
	fi
	unset MARIADB_PASSWORD
	exec mariadbd --user=mysql "$@"
	;;
mongod)
	# FerretDB stands in for mongod: SQLite under /data/db, the root user
	# made at start with SCRAM (roles are not implemented in FerretDB 1.x).
	# mongod's --bind_ip ADDR becomes its listen address. Never without
	# --telemetry=disable: it would try to reach its vendor.
	shift
	bind=127.0.0.1
	if [ "${1:-}" = --bind_ip ]; then
		bind=$2
		shift 2
	fi
	export FERRETDB_SETUP_PASSWORD="$MONGO_INITDB_ROOT_PASSWORD"
	unset MONGO_INITDB_ROOT_PASSWORD
	exec ferretdb --telemetry=disable --handler=sqlite --sqlite-url=file:/data/db/ --state-dir=/data/db \
		--listen-addr="$bind:27017" --debug-addr=- --test-enable-new-auth \
		--setup-username="$MONGO_INITDB_ROOT_USERNAME" --setup-database=admin "$@"
	;;
*)
	exec "$@"
	;;
esac
