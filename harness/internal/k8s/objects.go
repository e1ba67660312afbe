package k8s

// The Kubernetes objects Render writes: only the fields it sets, named
// and nested as the API names them (core/v1 and batch/v1), in the order
// a reader expects them. The tests decode every rendered document
// strictly into k8s.io/api's types, so a misspelt or misplaced field
// fails there; the binary itself does not link the API machinery.

type typeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

type objectMeta struct {
	Name        string            `yaml:"name,omitempty"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type configMap struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta        `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type service struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta  `yaml:"metadata"`
	Spec     serviceSpec `yaml:"spec"`
}

type serviceSpec struct {
	ClusterIP                string            `yaml:"clusterIP"`
	PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
	Selector                 map[string]string `yaml:"selector"`
	Ports                    []servicePort     `yaml:"ports"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Protocol   string `yaml:"protocol"`
	Port       int    `yaml:"port"`
	TargetPort int    `yaml:"targetPort"`
}

type persistentVolumeClaim struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     pvcSpec    `yaml:"spec"`
}

type pvcSpec struct {
	AccessModes      []string     `yaml:"accessModes"`
	StorageClassName string       `yaml:"storageClassName,omitempty"`
	Resources        resourceReqs `yaml:"resources"`
}

type job struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     jobSpec    `yaml:"spec"`
}

type jobSpec struct {
	Suspend               *bool             `yaml:"suspend,omitempty"`
	CompletionMode        string            `yaml:"completionMode,omitempty"`
	Completions           *int              `yaml:"completions,omitempty"`
	Parallelism           *int              `yaml:"parallelism,omitempty"`
	BackoffLimit          *int              `yaml:"backoffLimit,omitempty"`
	BackoffLimitPerIndex  *int              `yaml:"backoffLimitPerIndex,omitempty"`
	PodFailurePolicy      *podFailurePolicy `yaml:"podFailurePolicy,omitempty"`
	ActiveDeadlineSeconds *int64            `yaml:"activeDeadlineSeconds,omitempty"`
	Template              podTemplate       `yaml:"template"`
}

type podFailurePolicy struct {
	Rules []podFailurePolicyRule `yaml:"rules"`
}

type podFailurePolicyRule struct {
	Action          string                   `yaml:"action"`
	OnExitCodes     *onExitCodes             `yaml:"onExitCodes,omitempty"`
	OnPodConditions []onPodConditionsPattern `yaml:"onPodConditions,omitempty"`
}

type onExitCodes struct {
	ContainerName string `yaml:"containerName"`
	Operator      string `yaml:"operator"`
	Values        []int  `yaml:"values,flow"`
}

type onPodConditionsPattern struct {
	Type   string `yaml:"type"`
	Status string `yaml:"status"`
}

type podTemplate struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     podSpec    `yaml:"spec"`
}

type podSpec struct {
	Subdomain                     string                     `yaml:"subdomain,omitempty"`
	RestartPolicy                 string                     `yaml:"restartPolicy"`
	AutomountServiceAccountToken  bool                       `yaml:"automountServiceAccountToken"`
	EnableServiceLinks            bool                       `yaml:"enableServiceLinks"`
	TerminationGracePeriodSeconds int64                      `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               podSecurityContext         `yaml:"securityContext"`
	TopologySpreadConstraints     []topologySpreadConstraint `yaml:"topologySpreadConstraints,omitempty"`
	Containers                    []container                `yaml:"containers"`
	Volumes                       []volume                   `yaml:"volumes"`
}

type podSecurityContext struct {
	RunAsNonRoot   bool           `yaml:"runAsNonRoot"`
	RunAsUser      int64          `yaml:"runAsUser"`
	RunAsGroup     int64          `yaml:"runAsGroup"`
	FSGroup        int64          `yaml:"fsGroup"`
	SeccompProfile seccompProfile `yaml:"seccompProfile"`
}

type seccompProfile struct {
	Type string `yaml:"type"`
}

type topologySpreadConstraint struct {
	MaxSkew           int           `yaml:"maxSkew"`
	TopologyKey       string        `yaml:"topologyKey"`
	WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
	LabelSelector     labelSelector `yaml:"labelSelector"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type container struct {
	Name            string                   `yaml:"name"`
	Image           string                   `yaml:"image"`
	Args            []string                 `yaml:"args"`
	Env             []envVar                 `yaml:"env,omitempty"`
	EnvFrom         []envFromSource          `yaml:"envFrom,omitempty"`
	Ports           []containerPort          `yaml:"ports,omitempty"`
	Resources       resourceReqs             `yaml:"resources"`
	SecurityContext containerSecurityContext `yaml:"securityContext"`
	VolumeMounts    []volumeMount            `yaml:"volumeMounts"`
}

type envVar struct {
	Name      string        `yaml:"name"`
	Value     string        `yaml:"value,omitempty"`
	ValueFrom *envVarSource `yaml:"valueFrom,omitempty"`
}

type envVarSource struct {
	FieldRef *objectFieldSelector `yaml:"fieldRef,omitempty"`
}

type objectFieldSelector struct {
	FieldPath string `yaml:"fieldPath"`
}

type envFromSource struct {
	SecretRef *secretEnvSource `yaml:"secretRef,omitempty"`
}

type secretEnvSource struct {
	Name string `yaml:"name"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type resourceReqs struct {
	Requests map[string]string `yaml:"requests,omitempty"`
	Limits   map[string]string `yaml:"limits,omitempty"`
}

type containerSecurityContext struct {
	AllowPrivilegeEscalation bool         `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   bool         `yaml:"readOnlyRootFilesystem"`
	Capabilities             capabilities `yaml:"capabilities"`
}

type capabilities struct {
	Drop []string `yaml:"drop,flow"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

type volume struct {
	Name                  string                `yaml:"name"`
	ConfigMap             *configMapVolume      `yaml:"configMap,omitempty"`
	PersistentVolumeClaim *pvcVolume            `yaml:"persistentVolumeClaim,omitempty"`
	EmptyDir              *emptyDirVolumeSource `yaml:"emptyDir,omitempty"`
}

type configMapVolume struct {
	Name  string      `yaml:"name"`
	Items []keyToPath `yaml:"items"`
}

type keyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type pvcVolume struct {
	ClaimName string `yaml:"claimName"`
}

type emptyDirVolumeSource struct {
	SizeLimit string `yaml:"sizeLimit,omitempty"`
}
