//! Test certificates, made fresh for each run: a CA, and leaf certificates signed by it for
//! chosen names, dates and key forms. No private key is ever committed.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};

pub struct Ca {
    pub cert: X509,
    key: PKey<Private>,
    pub dir: PathBuf,
}

/// A fresh directory for one test's files.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("luna-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut b = X509NameBuilder::new().unwrap();
    b.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    b.build()
}

fn serial() -> openssl::asn1::Asn1Integer {
    let mut bn = BigNum::new().unwrap();
    bn.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    bn.to_asn1_integer().unwrap()
}

pub fn rsa_key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

pub fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// How a key is written to its PEM file.
pub enum KeyForm {
    Pkcs8,
    Pkcs1,
    Sec1,
    Encrypted(&'static str),
}

pub fn write_key(key: &PKey<Private>, form: KeyForm, path: &Path) {
    let pem = match form {
        KeyForm::Pkcs8 => key.private_key_to_pem_pkcs8().unwrap(),
        KeyForm::Pkcs1 => key.rsa().unwrap().private_key_to_pem().unwrap(),
        KeyForm::Sec1 => key.ec_key().unwrap().private_key_to_pem().unwrap(),
        KeyForm::Encrypted(pw) => key
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pw.as_bytes())
            .unwrap(),
    };
    std::fs::write(path, pem).unwrap();
}

impl Ca {
    pub fn new(dir: PathBuf) -> Ca {
        let key = rsa_key();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&serial()).unwrap();
        b.set_subject_name(&name("luna test CA")).unwrap();
        b.set_issuer_name(&name("luna test CA")).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(KeyUsage::new().key_cert_sign().crl_sign().build().unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let ca = Ca {
            cert: b.build(),
            key,
            dir,
        };
        std::fs::write(ca.path("ca.pem"), ca.cert.to_pem().unwrap()).unwrap();
        ca
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Signs a certificate for `names` (DNS names or IP addresses), valid between the given
    /// Unix times, and writes it as `file`.
    pub fn leaf(
        &self,
        key: &PKey<Private>,
        names: &[&str],
        valid: (i64, i64),
        file: &str,
    ) -> PathBuf {
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&serial()).unwrap();
        b.set_subject_name(&name(names[0])).unwrap();
        b.set_issuer_name(self.cert.subject_name()).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(valid.0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(valid.1).unwrap())
            .unwrap();
        let mut san = SubjectAlternativeName::new();
        for n in names {
            if n.parse::<std::net::IpAddr>().is_ok() {
                san.ip(n);
            } else {
                san.dns(n);
            }
        }
        let ext = san
            .build(&b.x509v3_context(Some(&self.cert), None))
            .unwrap();
        b.append_extension(ext).unwrap();
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        let path = self.path(file);
        std::fs::write(&path, b.build().to_pem().unwrap()).unwrap();
        path
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid from an hour ago for two days.
pub fn valid_now() -> (i64, i64) {
    (now() - 3600, now() + 2 * 86400)
}
