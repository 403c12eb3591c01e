package forecasting.minicluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.minikdc.MiniKdc;
import org.apache.hadoop.security.UserGroupInformation;

/**
 * Hadoop's MiniKdc on loopback, and what a kerberized mini cluster needs of it.
 *
 * <p>One JVM runs every daemon, and a JVM has one login user, so the
 * NameNode, DataNode, ResourceManager and NodeManagers share one service
 * principal, {@code hdfs/localhost}, as Hadoop's own secure mini-cluster
 * tests do; SPNEGO has {@code HTTP/localhost}.  The host part is the literal
 * {@code localhost}, never {@code _HOST}: every daemon binds to loopback, and
 * clients then check the name they configured, not one from reverse DNS.
 *
 * <p>Writes into {@code DIR}: {@code krb5.conf} (the realm, its KDC's port),
 * {@code USER.keytab} (the user's principal, {@code USER@EXAMPLE.COM}), and
 * under {@code DIR/kerberos}: {@code service.keytab} (the daemons') and
 * {@code other.keytab} (a principal that is not the user's: a wrong keytab
 * for tests).  The KDC's maximum ticket lifetime is {@code ticketLifetime}
 * seconds, for every principal.
 */
final class Kerberos {

  static final String SERVICE = "hdfs/localhost";
  static final String HTTP = "HTTP/localhost";

  final MiniKdc kdc;
  final String realm;
  final Path krb5Conf;
  final Path serviceKeytab;
  final Path userKeytab;
  final Path otherKeytab;
  final String userPrincipal;

  private Kerberos(MiniKdc kdc, Path dir, String user) {
    this.kdc = kdc;
    this.realm = kdc.getRealm();
    this.krb5Conf = dir.resolve("krb5.conf");
    this.serviceKeytab = dir.resolve("kerberos").resolve("service.keytab");
    this.userKeytab = dir.resolve(user + ".keytab");
    this.otherKeytab = dir.resolve("kerberos").resolve("other.keytab");
    this.userPrincipal = user + "@" + realm;
  }

  static Kerberos start(Path dir, String user, long ticketLifetime) throws Exception {
    Path work = dir.resolve("kerberos");
    Files.createDirectories(work);
    Properties props = MiniKdc.createConf();
    props.setProperty(MiniKdc.KDC_BIND_ADDRESS, "localhost");
    props.setProperty(MiniKdc.MAX_TICKET_LIFETIME, Long.toString(ticketLifetime));
    props.setProperty(MiniKdc.MAX_RENEWABLE_LIFETIME, Long.toString(ticketLifetime));
    MiniKdc kdc = new MiniKdc(props, work.resolve("kdc").toFile());
    kdc.start();
    Kerberos k = new Kerberos(kdc, dir, user);
    k.writeKrb5Conf();
    // The JDK reads krb5.conf once; point it at ours before any login.
    System.setProperty(MiniKdc.JAVA_SECURITY_KRB5_CONF, k.krb5Conf.toString());
    kdc.createPrincipal(k.serviceKeytab.toFile(), SERVICE, HTTP);
    kdc.createPrincipal(k.userKeytab.toFile(), user);
    kdc.createPrincipal(k.otherKeytab.toFile(), "other");
    return k;
  }

  /** MiniKdc's own file sits in a folder it deletes on stop: clients get a stable copy, without DNS. */
  private void writeKrb5Conf() throws IOException {
    String text = "[libdefaults]\n"
        + "  default_realm = " + realm + "\n"
        + "  udp_preference_limit = 1\n"
        + "  dns_lookup_kdc = false\n"
        + "  dns_lookup_realm = false\n"
        + "  rdns = false\n"
        + "\n[realms]\n"
        + "  " + realm + " = {\n"
        + "    kdc = localhost:" + kdc.getPort() + "\n"
        + "  }\n";
    Path tmp = krb5Conf.resolveSibling("krb5.conf.tmp");
    Files.write(tmp, text.getBytes(StandardCharsets.UTF_8));
    Files.move(tmp, krb5Conf, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  String service() {
    return SERVICE + "@" + realm;
  }

  /** Kerberos names to short names: {@code user@REALM} and {@code hdfs/localhost@REALM} to {@code user}, {@code hdfs}. */
  String authToLocal() {
    String r = realm.replace(".", "\\.");
    return "RULE:[1:$1@$0](.*@" + r + ")s/@.*//\n"
        + "RULE:[2:$1@$0](.*@" + r + ")s/@.*//\n"
        + "DEFAULT";
  }

  /** What clients and daemons share: Kerberos authentication, and how principals map to user names. */
  Map<String, String> coreSettings() {
    Map<String, String> s = new TreeMap<>();
    s.put("hadoop.security.authentication", "kerberos");
    s.put("hadoop.security.auth_to_local", authToLocal());
    return s;
  }

  Map<String, String> hdfsClientSettings() {
    Map<String, String> s = new TreeMap<>();
    s.put("dfs.namenode.kerberos.principal", service());
    s.put("dfs.datanode.kerberos.principal", service());
    // SASL on the data path, on unprivileged ports (no jsvc, no root).
    s.put("dfs.data.transfer.protection", "authentication");
    s.put("ignore.secure.ports.for.testing", "true");
    return s;
  }

  Map<String, String> hdfsDaemonSettings() {
    Map<String, String> s = hdfsClientSettings();
    s.put("dfs.block.access.token.enable", "true");
    s.put("dfs.namenode.keytab.file", serviceKeytab.toString());
    s.put("dfs.datanode.keytab.file", serviceKeytab.toString());
    s.put("dfs.web.authentication.kerberos.principal", HTTP + "@" + realm);
    s.put("dfs.web.authentication.kerberos.keytab", serviceKeytab.toString());
    s.put("dfs.namenode.kerberos.internal.spnego.principal", HTTP + "@" + realm);
    return s;
  }

  /** skein's driver asks for an RM delegation token renewed by this principal: clients need it. */
  Map<String, String> yarnClientSettings() {
    Map<String, String> s = new TreeMap<>();
    s.put("yarn.resourcemanager.principal", service());
    s.put("yarn.nodemanager.principal", service());
    return s;
  }

  /**
   * What every container's environment gets (YARN's admin-env): a cluster's
   * nodes have {@code /etc/krb5.conf}, where the JDK looks by itself; this
   * machine's krb5.conf is DIR's, which a JVM in a container (skein's
   * application master) is told of through {@code JAVA_TOOL_OPTIONS}.
   */
  String containerEnv() {
    return "JAVA_TOOL_OPTIONS=-D" + MiniKdc.JAVA_SECURITY_KRB5_CONF + "=" + krb5Conf;
  }

  Map<String, String> yarnDaemonSettings() {
    Map<String, String> s = yarnClientSettings();
    s.put("yarn.resourcemanager.keytab", serviceKeytab.toString());
    s.put("yarn.nodemanager.keytab", serviceKeytab.toString());
    return s;
  }

  /** Log this JVM (every daemon in it) in as the service principal. */
  void loginDaemons(Configuration conf) throws IOException {
    UserGroupInformation.setConfiguration(conf);
    UserGroupInformation.loginUserFromKeytab(service(), serviceKeytab.toString());
  }

  String readyLines() {
    return "kerberos.realm=" + realm + "\n"
        + "kerberos.krb5_conf=" + krb5Conf + "\n"
        + "kerberos.principal=" + userPrincipal + "\n"
        + "kerberos.keytab=" + userKeytab + "\n"
        + "kerberos.other_keytab=" + otherKeytab + "\n";
  }

  void stop() {
    kdc.stop();
  }
}
