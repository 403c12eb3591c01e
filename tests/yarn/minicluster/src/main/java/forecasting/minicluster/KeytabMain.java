package forecasting.minicluster;

import java.lang.reflect.Method;
import java.security.PrivilegedExceptionAction;
import java.util.Arrays;

import org.apache.hadoop.security.UserGroupInformation;

/**
 * Runs a Hadoop command-line tool logged in from a keytab: the kerberized
 * mini cluster's {@code bin/yarn} and {@code bin/hdfs} use it where a person
 * on a real cluster would have run {@code kinit} first (this machine has no
 * MIT Kerberos tools, and the JDK has no kinit on Linux).
 *
 * <p>Usage: {@code KeytabMain PRINCIPAL KEYTAB MAIN-CLASS [ARGS...]}.
 */
public final class KeytabMain {

  private KeytabMain() {
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: KeytabMain PRINCIPAL KEYTAB MAIN-CLASS [ARGS...]");
      System.exit(2);
    }
    UserGroupInformation.loginUserFromKeytab(args[0], args[1]);
    Method main = Class.forName(args[2]).getMethod("main", String[].class);
    String[] rest = Arrays.copyOfRange(args, 3, args.length);
    UserGroupInformation.getLoginUser().doAs((PrivilegedExceptionAction<Void>) () -> {
      main.invoke(null, (Object) rest);
      return null;
    });
  }
}
