// Encrypts a text as Spring Security's Encryptors.text(password, salt) does, with the JDK only.
// Usage: java SpringCipher.java <password> <hex salt> <text>
import javax.crypto.*;
import javax.crypto.spec.*;
import java.util.HexFormat;
public class SpringCipher {
  public static void main(String[] a) throws Exception {
    String password = a[0], salt = a[1], plain = a[2];
    SecretKey k = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA1").generateSecret(new PBEKeySpec(password.toCharArray(), HexFormat.of().parseHex(salt), 1024, 256));
    SecretKeySpec key = new SecretKeySpec(k.getEncoded(), "AES");
    byte[] iv = new byte[16]; new java.security.SecureRandom().nextBytes(iv);
    Cipher c = Cipher.getInstance("AES/CBC/PKCS5Padding");
    c.init(Cipher.ENCRYPT_MODE, key, new IvParameterSpec(iv));
    byte[] ct = c.doFinal(plain.getBytes("UTF-8"));
    byte[] out = new byte[iv.length + ct.length];
    System.arraycopy(iv, 0, out, 0, 16); System.arraycopy(ct, 0, out, 16, ct.length);
    System.out.println(HexFormat.of().formatHex(out));
  }
}
