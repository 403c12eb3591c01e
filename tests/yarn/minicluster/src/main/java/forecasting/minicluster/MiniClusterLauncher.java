package forecasting.minicluster;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.api.records.NodeReport;
import org.apache.hadoop.yarn.api.records.NodeState;
import org.apache.hadoop.yarn.client.api.YarnClient;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * Starts Hadoop's own test clusters on this machine: a MiniDFSCluster
 * (one NameNode, one DataNode) and a MiniYARNCluster (one ResourceManager,
 * N NodeManagers that launch real containers), writes the client
 * configuration into {@code DIR/conf}, then blocks until the JVM is told to
 * stop (SIGTERM), stopping YARN and HDFS on the way out.
 *
 * <p>Usage: {@code MiniClusterLauncher DIR [--nodemanagers N]
 * [--nm-memory-mb MB] [--nm-vcores N] [--keep-container-logs] [--classpath CP]
 * [--kerberos [--ticket-lifetime SECONDS]]}.  Started and stopped
 * by {@code tests/yarn/minicluster/start} and {@code stop}; {@code DIR/ready}
 * appears once every NodeManager is RUNNING in the ResourceManager's view.
 */
public final class MiniClusterLauncher {

  private MiniClusterLauncher() {
  }

  /** Command-line options. */
  static final class Options {
    Path dir;
    int nodeManagers = 2;
    int nmMemoryMb = 4096;
    int nmVcores = 4;
    String classpath = "";
    /** Keep each container's log folder after aggregation (the log fixtures compare the two). */
    boolean keepContainerLogs = false;
    /** Start a KDC too, and HDFS and YARN with Kerberos authentication. */
    boolean kerberos = false;
    /** The KDC's maximum ticket lifetime, in seconds. */
    long ticketLifetime = 86400;

    static Options parse(String[] args) {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        switch (a) {
          case "--nodemanagers": o.nodeManagers = Integer.parseInt(args[++i]); break;
          case "--nm-memory-mb": o.nmMemoryMb = Integer.parseInt(args[++i]); break;
          case "--nm-vcores": o.nmVcores = Integer.parseInt(args[++i]); break;
          case "--classpath": o.classpath = args[++i]; break;
          case "--keep-container-logs": o.keepContainerLogs = true; break;
          case "--kerberos": o.kerberos = true; break;
          case "--ticket-lifetime": o.ticketLifetime = Long.parseLong(args[++i]); break;
          default:
            if (a.startsWith("--") || o.dir != null) {
              throw new IllegalArgumentException("unknown argument " + a);
            }
            o.dir = Paths.get(a).toAbsolutePath();
        }
      }
      if (o.dir == null) {
        throw new IllegalArgumentException("usage: MiniClusterLauncher DIR [options]");
      }
      return o;
    }
  }

  public static void main(String[] args) {
    try {
      run(Options.parse(args));
    } catch (Throwable t) {
      // The daemons' threads would keep the JVM alive: exit, which runs the
      // shutdown hook that stops whatever did start.
      System.err.println("minicluster: failed to start");
      t.printStackTrace();
      System.exit(1);
    }
  }

  private static volatile MiniDFSCluster dfsCluster;
  private static volatile MiniYARNCluster yarnCluster;
  private static volatile Kerberos kerberos;

  static void run(Options opts) throws Exception {
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.err.println("minicluster: stopping YARN and HDFS");
      try {
        if (yarnCluster != null) {
          yarnCluster.stop();
        }
      } catch (RuntimeException e) {
        e.printStackTrace();
      }
      try {
        if (dfsCluster != null) {
          dfsCluster.shutdown();
        }
      } catch (RuntimeException e) {
        e.printStackTrace();
      }
      // Last: the daemons log out through it.
      if (kerberos != null) {
        kerberos.stop();
      }
      stopped.countDown();
    }, "minicluster-shutdown"));

    Path conf = opts.dir.resolve("conf");
    Files.createDirectories(conf);
    Files.createDirectories(opts.dir.resolve("tmp"));

    Configuration base = new HdfsConfiguration();
    Map<String, String> core = new TreeMap<>();
    core.put("hadoop.tmp.dir", opts.dir.resolve("tmp").toString());
    // The containers' user (this one) may impersonate nobody else; the
    // staging folder skein writes is the user's own home on HDFS.
    String user = System.getProperty("user.name");
    Kerberos krb = null;
    Map<String, String> hdfs = new TreeMap<>();
    hdfs.put("dfs.replication", "1");
    if (opts.kerberos) {
      krb = Kerberos.start(opts.dir, user, opts.ticketLifetime);
      kerberos = krb;
      core.putAll(krb.coreSettings());
      hdfs.putAll(krb.hdfsClientSettings());
      krb.hdfsDaemonSettings().forEach(base::set);
    }
    core.forEach(base::set);
    if (krb != null) {
      krb.loginDaemons(base);
    }

    base.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, opts.dir.resolve("hdfs").toString());
    // An HDFS with permissions on, as in production, and replication 1 (one DataNode).
    base.setInt("dfs.replication", 1);
    base.setBoolean("dfs.permissions.enabled", true);
    MiniDFSCluster dfs = new MiniDFSCluster.Builder(base).numDataNodes(1).format(true).build();
    dfsCluster = dfs;
    dfs.waitActive();
    String defaultFs = dfs.getURI().toString();
    core.put("fs.defaultFS", defaultFs);
    base.set("fs.defaultFS", defaultFs);

    FileSystem fs = dfs.getFileSystem();
    org.apache.hadoop.fs.Path home = new org.apache.hadoop.fs.Path("/user/" + user);
    fs.mkdirs(home);
    if (krb != null) {
      // The NameNode's user (the superuser) is now hdfs, not this one: give
      // the user its home and the folder the shared environment goes in.
      org.apache.hadoop.fs.Path shared = new org.apache.hadoop.fs.Path("/forecasting");
      fs.mkdirs(shared);
      fs.setOwner(home, user, null);
      fs.setOwner(shared, user, null);
    }
    org.apache.hadoop.fs.Path appLogs = new org.apache.hadoop.fs.Path("/app-logs");
    fs.mkdirs(appLogs, new FsPermission((short) 01777));
    fs.setPermission(appLogs, new FsPermission((short) 01777));

    YarnConfiguration yarnConf = new YarnConfiguration(base);
    Map<String, String> yarn = yarnSettings(opts, conf);
    if (krb != null) {
      yarn.putAll(krb.yarnClientSettings());
      krb.yarnDaemonSettings().forEach(yarnConf::set);
      yarn.put("yarn.nodemanager.admin-env", yarn.get("yarn.nodemanager.admin-env") + "," + krb.containerEnv());
    }
    yarn.forEach(yarnConf::set);
    Map<String, String> queues = capacitySchedulerSettings();
    queues.forEach(yarnConf::set);
    // The RM reads capacity-scheduler.xml from its classpath: the conf folder.
    writeXml(conf.resolve("capacity-scheduler.xml"), queues);

    MiniYARNCluster cluster = new MiniYARNCluster("forecasting", 1, opts.nodeManagers, 1, 1);
    yarnCluster = cluster;

    cluster.init(yarnConf);
    cluster.start();
    Configuration live = cluster.getConfig();
    // The RM publishes its bound ports in the configuration only once it has
    // started; wait for real ports before writing the client configuration.
    long deadline = System.currentTimeMillis() + 60_000;
    while (live.get(YarnConfiguration.RM_ADDRESS, "").endsWith(":0")) {
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("the ResourceManager never published its address");
      }
      Thread.sleep(100);
    }
    waitForNodeManagers(live, opts.nodeManagers);

    for (Map.Entry<String, String> e : live) {
      if (e.getKey().startsWith("yarn.resourcemanager.") && e.getKey().endsWith("address")) {
        yarn.put(e.getKey(), live.get(e.getKey()));
      }
    }
    yarn.put("yarn.resourcemanager.hostname", MiniYARNCluster.getHostname());
    writeXml(conf.resolve("core-site.xml"), core);
    writeXml(conf.resolve("yarn-site.xml"), yarn);
    writeXml(conf.resolve("hdfs-site.xml"), hdfs);
    // Empty, as on a cluster without MapReduce; Hadoop's Kerberos login registers
    // it as a default resource, which FsShell (not quiet) then insists on.
    writeXml(conf.resolve("mapred-site.xml"), new TreeMap<>());

    Path ready = opts.dir.resolve("ready");
    Path tmpReady = opts.dir.resolve("ready.tmp");
    String info = "fs.defaultFS=" + defaultFs + "\n"
        + "yarn.resourcemanager.address=" + live.get(YarnConfiguration.RM_ADDRESS) + "\n"
        + "yarn.resourcemanager.webapp.address=" + live.get(YarnConfiguration.RM_WEBAPP_ADDRESS) + "\n"
        + "nodemanagers=" + opts.nodeManagers + "\n"
        + (krb != null ? krb.readyLines() : "");
    Files.write(tmpReady, info.getBytes(StandardCharsets.UTF_8));
    Files.move(tmpReady, ready, StandardCopyOption.ATOMIC_MOVE);
    System.err.println("minicluster: ready\n" + info);
    stopped.await();
  }

  /** What every YARN daemon and client of this cluster shares. */
  static Map<String, String> yarnSettings(Options opts, Path conf) {
    Map<String, String> s = new TreeMap<>();
    String host = MiniYARNCluster.getHostname();
    s.put("yarn.resourcemanager.hostname", host);
    // Real memory enforcement: the NodeManager's container monitor kills a
    // container whose process tree outgrows its physical memory.
    s.put("yarn.minicluster.control-resource-monitoring", "true");
    s.put("yarn.nodemanager.pmem-check-enabled", "true");
    // "Strict" enforcement leaves memory to cgroups' OOM killer, which a
    // NodeManager without cgroups does not have: poll, as most clusters do.
    s.put("yarn.nodemanager.resource.memory.enforced", "false");
    // JVMs and Python reserve far more virtual memory than they use.
    s.put("yarn.nodemanager.vmem-check-enabled", "false");
    s.put("yarn.nodemanager.container-monitor.interval-ms", "1000");
    s.put("yarn.minicluster.yarn.nodemanager.resource.memory-mb", Integer.toString(opts.nmMemoryMb));
    s.put("yarn.nodemanager.resource.memory-mb", Integer.toString(opts.nmMemoryMb));
    s.put("yarn.nodemanager.resource.cpu-vcores", Integer.toString(opts.nmVcores));
    s.put("yarn.scheduler.minimum-allocation-mb", "128");
    s.put("yarn.scheduler.maximum-allocation-mb", Integer.toString(opts.nmMemoryMb));
    s.put("yarn.scheduler.maximum-allocation-vcores", Integer.toString(opts.nmVcores));
    // A shared build machine's disk may be nearly full: never mark it bad.
    s.put("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", "100.0");
    s.put("yarn.nodemanager.disk-health-checker.min-free-space-per-disk-mb", "0");
    // Aggregated logs on HDFS, read by `yarn logs` once an application ends.
    s.put("yarn.log-aggregation-enable", "true");
    s.put("yarn.nodemanager.remote-app-log-dir", "/app-logs");
    s.put("yarn.log-aggregation.retain-seconds", "86400");
    // -1: the NodeManagers never delete what a container left (its log folder
    // as well), so that what they wrote can be set beside what `yarn logs` prints.
    s.put("yarn.nodemanager.delete.debug-delay-sec", opts.keepContainerLogs ? "-1" : "0");
    s.put("yarn.resourcemanager.scheduler.class",
        "org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler");
    // What skein's ApplicationMaster runs with: the client configuration and
    // the unshaded Hadoop jars.
    String cp = conf.toString() + (opts.classpath.isEmpty() ? "" : "," + opts.classpath.replace(':', ','));
    s.put("yarn.application.classpath", cp);
    s.put("yarn.nodemanager.env-whitelist",
        "JAVA_HOME,HADOOP_COMMON_HOME,HADOOP_HDFS_HOME,HADOOP_CONF_DIR,CLASSPATH_PREPEND_DISTCACHE,"
        + "HADOOP_YARN_HOME,HADOOP_HOME,PATH,LANG,TZ");
    s.put("yarn.nodemanager.admin-env", "MALLOC_ARENA_MAX=4");
    // A killed container's process gets SIGTERM, then SIGKILL this much later.
    s.put("yarn.nodemanager.sleep-delay-before-sigkill.ms", "250");
    s.put("yarn.nodemanager.process-kill-wait.ms", "2000");
    s.put("yarn.resourcemanager.am.max-attempts", "1");
    s.put("yarn.nodemanager.recovery.enabled", "false");
    s.put("yarn.timeline-service.enabled", "false");
    return s;
  }

  /** Two queues: {@code default} and a tiny {@code small} one (a full queue on demand). */
  static Map<String, String> capacitySchedulerSettings() {
    Map<String, String> s = new TreeMap<>();
    String root = "yarn.scheduler.capacity.root";
    s.put(root + ".queues", "default,small");
    s.put(root + ".default.capacity", "90");
    s.put(root + ".default.maximum-capacity", "100");
    s.put(root + ".default.user-limit-factor", "10");
    s.put(root + ".small.capacity", "10");
    s.put(root + ".small.maximum-capacity", "10");
    s.put(root + ".small.user-limit-factor", "1");
    s.put(root + ".small.maximum-am-resource-percent", "1.0");
    // Several applications at once (tests, a benchmark beside them).
    s.put("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
    s.put("yarn.scheduler.capacity.resource-calculator",
        "org.apache.hadoop.yarn.util.resource.DefaultResourceCalculator");
    s.put("yarn.scheduler.capacity.node-locality-delay", "-1");
    return s;
  }

  static void waitForNodeManagers(Configuration conf, int expected) throws Exception {
    YarnClient client = YarnClient.createYarnClient();
    client.init(conf);
    client.start();
    try {
      long deadline = System.currentTimeMillis() + 120_000;
      while (true) {
        List<NodeReport> running = client.getNodeReports(NodeState.RUNNING);
        if (running.size() >= expected) {
          return;
        }
        if (System.currentTimeMillis() > deadline) {
          throw new IllegalStateException(
              "only " + running.size() + " of " + expected + " NodeManagers are RUNNING");
        }
        Thread.sleep(200);
      }
    } finally {
      client.stop();
    }
  }

  static void writeXml(Path path, Map<String, String> values) throws IOException {
    Configuration c = new Configuration(false);
    values.forEach(c::set);
    File tmp = new File(path.toString() + ".tmp");
    try (OutputStream out = new FileOutputStream(tmp)) {
      c.writeXml(out);
    }
    Files.move(tmp.toPath(), path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
