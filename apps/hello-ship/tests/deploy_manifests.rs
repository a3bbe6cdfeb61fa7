//! Contract test of the Kubernetes manifests in deploy/kubernetes: what the
//! cluster needs to run hello-ship safely, and the places where the
//! manifests, config.toml and the Dockerfile must agree (ports, paths, user
//! ids, selectors, grace periods). No cluster is needed; schema validation
//! against the Kubernetes API is not done here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Parses every YAML document of `path`.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// The kustomization, the resources it lists and the config file it turns
/// into the ConfigMap.
struct Deploy {
    kustomization: Value,
    resources: Vec<Value>,
    config: toml::Table,
}

impl Deploy {
    fn load() -> Self {
        let dir = deploy_dir();
        let kustomization = yaml_documents(&dir.join("kustomization.yaml"))
            .pop()
            .expect("kustomization.yaml has a document");
        let resources = strings(&kustomization["resources"])
            .iter()
            .flat_map(|file| yaml_documents(&dir.join(file)))
            .collect();
        let config_path = dir.join(config_file_name(&kustomization));
        let config = read(&config_path)
            .parse::<toml::Table>()
            .unwrap_or_else(|error| panic!("{} is not TOML: {error}", config_path.display()));
        Self {
            kustomization,
            resources,
            config,
        }
    }

    fn find(&self, kind: &str, name: &str) -> &Value {
        self.resources
            .iter()
            .find(|r| r["kind"] == kind && r["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} named {name} in the kustomization's resources"))
    }

    fn deployment(&self) -> &Value {
        self.find("Deployment", "hello-ship")
    }

    fn pod_spec(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]
    }

    fn container(&self) -> &Value {
        let containers = self.pod_spec()["containers"]
            .as_array()
            .expect("containers list");
        containers
            .iter()
            .find(|c| c["name"] == "hello-ship")
            .expect("a container named hello-ship")
    }

    /// Returns the number of the container's port named `http`.
    fn http_port(&self) -> i64 {
        self.container()["ports"]
            .as_array()
            .expect("container ports")
            .iter()
            .find(|p| p["name"] == "http")
            .and_then(|p| p["containerPort"].as_i64())
            .expect("a container port named http")
    }

    /// Returns the container's environment entry `name`.
    fn env(&self, name: &str) -> Option<&Value> {
        self.container()["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
    }

    fn volume(&self, name: &str) -> &Value {
        self.pod_spec()["volumes"]
            .as_array()
            .expect("volumes list")
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume named {name}"))
    }

    /// Returns each volume mount whose volume has a `source_key` source
    /// (`configMap`, `secret`), paired with that volume.
    fn mounts_of(&self, source_key: &str) -> Vec<(&Value, &Value)> {
        self.container()["volumeMounts"]
            .as_array()
            .expect("volumeMounts list")
            .iter()
            .map(|mount| {
                (
                    mount,
                    self.volume(mount["name"].as_str().expect("mount name")),
                )
            })
            .filter(|(_, volume)| volume.get(source_key).is_some())
            .collect()
    }

    fn drain_grace_secs(&self) -> i64 {
        self.config["server"]["drain_grace_secs"]
            .as_integer()
            .expect("config.toml sets server.drain_grace_secs")
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, found {value}"))
        .iter()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

/// The single file of the hello-ship-config ConfigMap generator.
fn config_file_name(kustomization: &Value) -> String {
    let generator = kustomization["configMapGenerator"]
        .as_array()
        .expect("configMapGenerator list")
        .iter()
        .find(|g| g["name"] == "hello-ship-config")
        .expect("a configMapGenerator named hello-ship-config");
    let files = strings(&generator["files"]);
    assert_eq!(files.len(), 1, "hello-ship-config has one file: {files:?}");
    files[0].clone()
}

/// Returns the arguments of each `keyword` instruction (USER, EXPOSE, ...)
/// in the Dockerfile's final stage.
fn dockerfile_runtime(keyword: &str) -> Vec<String> {
    let text = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Dockerfile"));
    let runtime = text
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage.to_owned())
        .expect("a FROM line");
    runtime
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{keyword} ")))
        .map(|rest| rest.trim().to_owned())
        .collect()
}

#[test]
fn every_manifest_is_listed_and_named() {
    let dir = deploy_dir();
    let deploy = Deploy::load();
    let listed: BTreeSet<String> = strings(&deploy.kustomization["resources"])
        .into_iter()
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("list deploy/kubernetes")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml resources vs. YAML files"
    );

    for resource in &deploy.resources {
        assert!(resource["apiVersion"].is_string(), "apiVersion: {resource}");
        assert!(resource["kind"].is_string(), "kind: {resource}");
        assert!(
            resource["metadata"]["name"].is_string(),
            "metadata.name: {resource}"
        );
        assert_ne!(
            resource["kind"], "Secret",
            "a Secret is committed: {resource}"
        );
    }
    assert_eq!(deploy.kustomization["kind"], "Kustomization");
}

#[test]
fn probes_and_service_use_container_port() {
    let deploy = Deploy::load();
    let container = deploy.container();
    let port = deploy.http_port();

    let liveness = &container["livenessProbe"]["httpGet"];
    assert_eq!(liveness["path"], "/health", "liveness probe path");
    assert!(
        liveness["port"] == "http" || liveness["port"] == port,
        "liveness port"
    );
    let readiness = &container["readinessProbe"]["httpGet"];
    assert_eq!(readiness["path"], "/ready", "readiness probe path");
    assert!(
        readiness["port"] == "http" || readiness["port"] == port,
        "readiness port"
    );

    let service = deploy.find("Service", "hello-ship");
    let target = &service["spec"]["ports"][0]["targetPort"];
    assert!(
        *target == "http" || *target == port,
        "Service targetPort {target}"
    );

    let listen = deploy.config["server"]["listen"]
        .as_str()
        .expect("server.listen");
    assert_eq!(
        listen,
        format!("0.0.0.0:{port}"),
        "config.toml server.listen"
    );
    assert_eq!(
        dockerfile_runtime("EXPOSE"),
        [port.to_string()],
        "Dockerfile EXPOSE"
    );

    let annotations = &deploy.deployment()["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
}

#[test]
fn selectors_match_pod_labels() {
    let deploy = Deploy::load();
    let deployment = deploy.deployment();
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector_map = selector.as_object().expect("Deployment matchLabels");
    for (key, value) in selector_map {
        assert_eq!(&labels[key], value, "pod label {key}");
    }

    let service = deploy.find("Service", "hello-ship");
    assert_eq!(&service["spec"]["selector"], selector, "Service selector");
    let pdb = deploy.find("PodDisruptionBudget", "hello-ship");
    assert_eq!(
        &pdb["spec"]["selector"]["matchLabels"], selector,
        "PDB selector"
    );
    let spread = &deploy.pod_spec()["topologySpreadConstraints"][0];
    assert_eq!(
        &spread["labelSelector"]["matchLabels"], selector,
        "spread selector"
    );

    let redis = deploy.find("StatefulSet", "redis");
    let redis_selector = &redis["spec"]["selector"]["matchLabels"];
    let redis_service = deploy.find("Service", "redis");
    assert_eq!(
        &redis_service["spec"]["selector"], redis_selector,
        "Redis Service"
    );
    let policy = deploy.find("NetworkPolicy", "redis");
    assert_eq!(
        &policy["spec"]["podSelector"]["matchLabels"],
        redis_selector
    );
    let allowed = &policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"];
    assert_eq!(allowed, selector, "Redis admits hello-ship pods");
}

#[test]
fn replicas_pdb_and_autoscaler_agree() {
    let deploy = Deploy::load();
    let replicas = deploy.deployment()["spec"]["replicas"].as_i64();
    assert_eq!(replicas, Some(2), "Deployment replicas");

    let pdb = deploy.find("PodDisruptionBudget", "hello-ship");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(
        pdb["spec"]["maxUnavailable"], 1,
        "PDB lets one pod go at a time"
    );

    let hpa = deploy.find("HorizontalPodAutoscaler", "hello-ship");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(target["apiVersion"], "apps/v1");
    assert_eq!(target["kind"], "Deployment");
    assert_eq!(target["name"], "hello-ship");
    assert_eq!(
        hpa["spec"]["minReplicas"].as_i64(),
        replicas,
        "HPA minReplicas"
    );
    let max = hpa["spec"]["maxReplicas"].as_i64().expect("maxReplicas");
    assert!(max > 2, "HPA maxReplicas {max}");
    let metric = &hpa["spec"]["metrics"][0];
    assert_eq!(metric["type"], "Resource");
    assert_eq!(metric["resource"]["name"], "cpu");
    assert_eq!(metric["resource"]["target"]["type"], "Utilization");
}

#[test]
fn container_resources_are_bounded() {
    let deploy = Deploy::load();
    let resources = &deploy.container()["resources"];
    for bound in ["requests", "limits"] {
        assert_eq!(resources[bound]["memory"], "512Mi", "{bound}.memory");
        assert_eq!(resources[bound]["cpu"], "500m", "{bound}.cpu");
    }
}

#[test]
fn every_pod_runs_restricted() {
    let deploy = Deploy::load();
    let pods: Vec<&Value> = deploy
        .resources
        .iter()
        .filter(|r| r["kind"] == "Deployment" || r["kind"] == "StatefulSet")
        .collect();
    assert_eq!(pods.len(), 2, "hello-ship and Redis workloads");
    for workload in pods {
        let name = &workload["metadata"]["name"];
        let spec = &workload["spec"]["template"]["spec"];
        assert_eq!(spec["automountServiceAccountToken"], false, "{name}");
        let pod = &spec["securityContext"];
        assert_eq!(pod["runAsNonRoot"], true, "{name} runAsNonRoot");
        let uid = pod["runAsUser"].as_i64().expect("numeric runAsUser");
        assert!(uid > 0, "{name} runAsUser {uid}");
        assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault", "{name}");
        for container in spec["containers"].as_array().expect("containers") {
            let context = &container["securityContext"];
            assert_eq!(context["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(context["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(context["capabilities"]["drop"][0], "ALL", "{name}");
            assert!(
                container["resources"]["limits"]["memory"].is_string(),
                "{name}"
            );
        }
    }
}

#[test]
fn pod_user_matches_image_user() {
    let deploy = Deploy::load();
    let pod = &deploy.pod_spec()["securityContext"];
    let container = &deploy.container()["securityContext"];
    let user = format!("{}:{}", pod["runAsUser"], pod["runAsGroup"]);
    assert_eq!(
        dockerfile_runtime("USER"),
        std::slice::from_ref(&user),
        "Dockerfile USER"
    );
    assert_eq!(
        format!("{}:{}", container["runAsUser"], container["runAsGroup"]),
        user,
        "container securityContext"
    );
    assert_eq!(
        pod["fsGroup"], pod["runAsGroup"],
        "fsGroup opens the key files"
    );
}

#[test]
fn termination_grace_outlasts_drain() {
    let deploy = Deploy::load();
    let grace = deploy.pod_spec()["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("terminationGracePeriodSeconds");
    let pre_stop = deploy.container()["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_i64()
        .expect("a preStop sleep action");
    assert!(pre_stop >= 1, "preStop sleep {pre_stop} s");
    let drain = deploy.drain_grace_secs();
    assert!(
        grace > pre_stop + drain,
        "terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop} s + drain_grace_secs {drain} s"
    );
}

#[test]
fn config_comes_from_mounted_configmap() {
    let deploy = Deploy::load();
    let config_env = deploy
        .env("HELLO_SHIP_CONFIG")
        .expect("HELLO_SHIP_CONFIG is set");
    let mounts = deploy.mounts_of("configMap");
    assert_eq!(mounts.len(), 1, "one ConfigMap mount");
    let (mount, volume) = mounts[0];
    assert_eq!(volume["configMap"]["name"], "hello-ship-config");
    assert!(
        mount["subPath"].is_null(),
        "a subPath mount is never updated"
    );
    let expected = format!(
        "{}/{}",
        mount["mountPath"].as_str().expect("mountPath"),
        config_file_name(&deploy.kustomization)
    );
    assert_eq!(config_env["value"], expected.as_str(), "HELLO_SHIP_CONFIG");
}

#[test]
fn route_keys_are_secret_files() {
    let deploy = Deploy::load();
    let mounts = deploy.mounts_of("secret");
    assert_eq!(mounts.len(), 1, "one Secret mount");
    let (mount, volume) = mounts[0];
    assert!(
        mount["subPath"].is_null(),
        "a subPath mount is never updated"
    );
    assert_eq!(mount["readOnly"], true);
    let mount_path = mount["mountPath"].as_str().expect("mountPath");
    let files: BTreeSet<String> = volume["secret"]["items"]
        .as_array()
        .expect("the Secret volume lists its items")
        .iter()
        .map(|item| format!("{mount_path}/{}", item["path"].as_str().expect("item path")))
        .collect();

    let routes = deploy.config["routes"]
        .as_array()
        .expect("config.toml routes");
    let keyed: Vec<_> = routes
        .iter()
        .filter(|r| {
            r.get("provider")
                .is_some_and(|p| p.as_str() != Some("mock"))
        })
        .collect();
    assert!(keyed.len() >= 2, "a primary and a fallback route");
    for route in keyed {
        let name = route["name"].as_str().expect("route name");
        assert!(
            route.get("api_key_env").is_none(),
            "route {name} reads its key from the environment"
        );
        let file = route["api_key_file"].as_str().expect("api_key_file");
        assert!(
            files.contains(file),
            "route {name}: {file} is not a mounted Secret item {files:?}"
        );
    }
}

#[test]
fn config_chains_openai_then_anthropic() {
    let deploy = Deploy::load();
    let chain = deploy.config["models"]["default"]["chain"]
        .as_array()
        .expect("models.default.chain");
    let provider = |name: &toml::Value| {
        deploy.config["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .find(|r| r["name"] == *name)
            .and_then(|r| r["provider"].as_str())
            .expect("chain names a route")
            .to_owned()
    };
    let providers: Vec<String> = chain.iter().map(provider).collect();
    assert_eq!(providers, ["openai", "anthropic"]);
}

#[test]
fn redis_url_names_redis_service() {
    let deploy = Deploy::load();
    let state = &deploy.config["state"];
    assert_eq!(state["backend"].as_str(), Some("redis"), "[state] backend");
    let variable = state["url_env"].as_str().expect("[state] url_env");
    let url = deploy
        .env(variable)
        .unwrap_or_else(|| panic!("{variable} is not set"));
    let url = url["value"].as_str().expect("a URL value");
    let service = deploy.find("Service", "redis");
    let port = &service["spec"]["ports"][0]["port"];
    assert!(
        url.ends_with(&format!("@redis:{port}/0")),
        "{variable} {url} does not point at the redis Service"
    );
    let password = deploy.env("REDIS_PASSWORD").expect("REDIS_PASSWORD");
    assert_eq!(
        password["valueFrom"]["secretKeyRef"]["name"],
        "hello-ship-redis"
    );
}

#[test]
fn deploy_config_passes_check_config() {
    let path = deploy_dir().join(config_file_name(&Deploy::load().kustomization));
    let output = Command::new(env!("CARGO_BIN_EXE_hello-ship"))
        .arg("check-config")
        .arg(&path)
        // Environment overrides such as MAX_OUTPUT_TOKENS would change the result.
        .env_clear()
        .output()
        .expect("run hello-ship check-config");
    assert!(
        output.status.success(),
        "hello-ship check-config {} failed:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
