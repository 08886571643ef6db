package dev.kgreason.neo4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

/**
 * Dev/CI launcher: embedded Neo4j 5.26 LTS Community with the Bolt connector.
 *
 * <p>Usage: {@code java -jar kgreason-neo4j.jar [--host H] [--port P] [--data-dir D]}.
 * Defaults come from env KGR_NEO4J_HOST / KGR_NEO4J_PORT / KGR_NEO4J_DATA_DIR
 * (127.0.0.1, 7687, ./.data/neo4j). Auth is off unless KGR_NEO4J_PASSWORD is set,
 * in which case auth is enabled and user "neo4j" gets that password (min 8 chars).
 * Page cache: env KGR_NEO4J_PAGECACHE (e.g. 512m, 1g; default 1g). Heap is set by the JVM flags.
 * Not for production: production runs the official neo4j server image.
 */
public final class Launcher {

    private static volatile DatabaseManagementService dbms;
    private static volatile Path readyFile;

    private static void say(String msg) {
        System.out.println("kgreason-neo4j: " + msg);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> env = System.getenv();
        String host = env.getOrDefault("KGR_NEO4J_HOST", "127.0.0.1");
        int port = Integer.parseInt(env.getOrDefault("KGR_NEO4J_PORT", "7687"));
        String dataDir = env.getOrDefault("KGR_NEO4J_DATA_DIR", ".data/neo4j");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--data-dir" -> dataDir = args[++i];
                default -> {
                    System.err.println("usage: Launcher [--host H] [--port P] [--data-dir D]");
                    System.exit(2);
                }
            }
        }
        String password = env.getOrDefault("KGR_NEO4J_PASSWORD", "");
        boolean auth = !password.isEmpty();
        long pageCache = ByteUnit.parse(env.getOrDefault("KGR_NEO4J_PAGECACHE", "1g"));

        Path home = Path.of(dataDir).toAbsolutePath().normalize();
        Files.createDirectories(home);
        // Clients using neo4j:// are routed to the advertised address.
        String advertisedHost = host.equals("0.0.0.0") || host.equals("::") ? "localhost" : host;

        // Clean shutdown (flush page cache, close stores) on SIGTERM/SIGINT.
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            DatabaseManagementService s = dbms;
            if (s != null) {
                say("shutting down");
                try {
                    if (readyFile != null) {
                        Files.deleteIfExists(readyFile);
                    }
                } catch (java.io.IOException ignored) {
                    // best effort
                }
                s.shutdown();
                say("stopped");
            }
            stopped.countDown();
        }, "kgreason-neo4j-shutdown"));

        long t0 = System.nanoTime();
        try {
            dbms = new DatabaseManagementServiceBuilder(home)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress(advertisedHost, port))
                    .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                    .setConfig(GraphDatabaseSettings.auth_enabled, auth)
                    .setConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
                    // debug.log, query.log, security.log go to <data-dir>/logs
                    .setConfig(GraphDatabaseSettings.logs_directory, home.resolve("logs"))
                    // Bolt waits 5 s + 5 s for idle pools on shutdown by default; 1 s is plenty for dev
                    .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                    .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                    .build();
        } catch (RuntimeException e) {
            // e.g. port already in use, store locked by another process
            System.err.println("kgreason-neo4j: FAILED to start: " + e);
            e.printStackTrace();
            Runtime.getRuntime().halt(1);
        }

        if (auth) {
            setPassword(password);
        }
        // Bolt accepts connections before the password is set, so neo4j.sh waits for this file.
        readyFile = home.resolve("neo4j.ready");
        Files.writeString(readyFile, ProcessHandle.current().pid() + "\n");
        say(String.format("READY bolt://%s:%d home=%s auth=%s started_in=%dms",
                advertisedHost, port, home, auth ? "on" : "off", (System.nanoTime() - t0) / 1_000_000));
        stopped.await(); // run until the shutdown hook has finished
    }

    /** Set the password of user neo4j via the system database (idempotent across restarts). */
    private static void setPassword(String password) {
        try {
            dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
            say("password of user neo4j set from KGR_NEO4J_PASSWORD");
        } catch (RuntimeException e) {
            // "Old password and new password cannot be the same" => already set on an earlier start.
            String msg = String.valueOf(e.getMessage());
            if (!msg.contains("cannot be the same")) {
                System.err.println("kgreason-neo4j: WARNING could not set password: " + msg);
            }
        }
    }
}
