"""The sandbox's data plane: the labs' world runs here, not only its API.

moto answers the control plane (RunInstances, CreateRoute, ...) and keeps what is asked for.
The data plane makes it real on this machine: instances serve the Employee Directory app, the
network decides who reaches them, load balancers balance, Auto Scaling heals and scales on the
apps' real CPU.
It is a set of small controllers, each a reconcile loop in the Kubernetes manner: read the
desired state, compare it with what runs, make one small idempotent change toward it, and do
it again; a crash half-way is healed by the next pass, and a restored sandbox (issue 15)
needs no special start: the loops see running instances and start their apps.

Parts (one module each):

- adapter: the only module that imports moto's internals. It hands out plain, frozen views
  (dataclasses) of what the loops need: instances (state, user data, public IP and DNS name,
  subnet, VPC, security groups, AZ, instance profile's role, metadata options, boot count),
  VPCs, internet gateways and attachments, route tables and associations (explicit and main),
  network ACLs and security groups; the request path reads them through a Place (one account's
  views in one region, built once per state version: every API action and every loop's write
  moves the version, so the next request sees the change). It also installs the few hooks
  that make moto say what the data plane sees: PublicDnsName is the name this machine reaches
  (`ec2-54-214-1-2.us-west-2.compute.localhost`), DescribeInstanceStatus shows an instance
  whose app crashed as impaired, GetConsoleOutput says what the sandbox ran, and every start
  or reboot counts a boot (so a reboot between two passes is not missed).
- instances: an instance that is `running` with the project's user data (the marker and the
  archive `bootcamp.userdata.inspect` reads) runs the app from the archive in that user data,
  unpacked under `<home>/dataplane/<account>/<instance-id>/`, as a process on a loopback
  port (forked by `launcher.py`, which imported boto3 once for all apps), with the user data's settings (bucket, region), AWS calls going to the
  sandbox, and no keys: boto3 finds the instance profile role's keys at the instance's
  metadata service, as on EC2. Stop and terminate stop the process, start and reboot start
  it again; a crashed app is restarted after 2 s (the user data's systemd unit says
  Restart=always, RestartSec=2), at most 5 times a boot, and while it is down the instance's
  status is impaired. Other user data is never executed; the console output says why.
  At most BOOTCAMP_SANDBOX_MAX_APPS apps run (default 10, about 10 MB each: PSS); beyond it an
  instance runs without an app, and its console output and status say so.
- metadata: each instance's metadata service, at
  `http://127.0.0.1:<port>/_bootcamp/imds/<instance-id>` (the app gets it as IMDS_ENDPOINT
  and AWS_EC2_METADATA_SERVICE_ENDPOINT): instance-id, placement/availability-zone,
  placement/region, iam/security-credentials/<role> from the sandbox's STS, IMDSv2 tokens,
  honouring the instance's metadata options (HttpTokens required: 401 without a token;
  HttpEndpoint disabled: 403 to everything).
- edge: "this machine plays the internet". A request whose Host is an instance's public DNS
  name under `.localhost` (curl and browsers send those names to 127.0.0.1) on the sandbox's
  port stands for a request from the internet to the instance's port 80. It is forwarded only
  where AWS would let it through: the instance has a public IPv4 address, its VPC has an
  internet gateway attached, the subnet's route table (explicit or main) routes this machine's
  address to that gateway, the network ACL allows TCP 80 in and the reply out (to the
  caller's real ephemeral port), a security group allows TCP 80 from this machine's address
  (the sandbox treats this machine as EDGE_CALLER, 198.51.100.1, a documentation address;
  a rule for 0.0.0.0/0 covers it), and the app listens. A packet AWS would drop is held for
  BOOTCAMP_SANDBOX_DROP_SECONDS (default 2 s) and the connection closed without an answer;
  where AWS would refuse (everything lets the packet through, but nothing listens on the
  port) it is closed at once.
- scaling: Auto Scaling as AWS runs it. The adapter's hooks launch each group instance into
  the AZ the group has fewest in (moto put all in the first subnet; placement.py decides), with the launch template
  version's (or launch configuration's) instance profile, metadata options and user data,
  register it with the group's target groups, take a scale-in from the AZ with most, and keep
  the scaling activities (DescribeScalingActivities), the one record of every launch and
  termination, in AWS's words. The loop replaces a member that is terminated or stopped,
  impaired, or (HealthCheckType ELB, after the grace period) unhealthy in a target group, and
  keeps the desired capacity (see `scaling`). Other loops change a group's desired capacity
  with `adapter.set_desired_capacity(..., why)` (`why` opens the activities' Cause) and hear of
  launches and terminations with `adapter.watch_activities`.
- balancer: a load balancer's DNSName is `<name>-<digits>.<region>.elb.localhost`; the edge
  judges the way from this machine to it as for an instance (internet-facing, gateway, routes,
  ACLs, its own security groups; reach.py holds the hops) and balancer.py answers as an ALB:
  no listener on the port refused, the listener's rules and default action, round robin over
  the healthy targets (fail open when all are unhealthy), 503 when none is routable, and to a
  target only where its security groups allow the load balancer's. `Edge.request(host, ...,
  caller=...)` is the one entry (lab 5's CloudFront may call it in-process).
- health: every target of a target group a listener uses is checked over HTTP with the group's
  protocol, port, path, timeout, interval, thresholds and matcher on the shared Clock, and
  DescribeTargetHealth (a hook) answers AWS's states and reasons, draining for the
  deregistration delay; `adapter.target_health(account, region, arn)` gives other loops the same.
- metrics (with tracking and notifications): every metric period (60 s, detailed monitoring,
  through the shared Clock) each running instance's CPUUtilization, measured on its app's
  process tree against its instance type's vCPUs (the app's stress action burns as many
  workers, told by INSTANCE_VCPUS), is published to CloudWatch as AWS/EC2 per InstanceId and
  per AutoScalingGroupName, with sandbox timestamps. Target tracking policies on
  ASGAverageCPUUtilization keep AWS's alarms (TargetTracking-<group>-AlarmHigh-<uuid>: 3 of 3
  periods above the target; AlarmLow: 15 of 15 below 90 % of it), made by a hook with the
  policy; every metric alarm on CPUUtilization is judged after each period, and one in ALARM
  runs its scaling policy once a period: the desired capacity moves toward what the target
  needs, within min and max, honouring warm-up (and a simple policy's cooldown), through
  `adapter.set_desired_capacity` with the alarm's cause (scaling's hooks launch and terminate
  and record the activities). Each launch and termination in the activities stream is told
  once to the group's notification topics (autoscaling:EC2_INSTANCE_LAUNCH / _TERMINATE, AWS's
  shape); the same stream dates each launch for the warm-up.

- cloudfront: a distribution's DomainName (`d<13 letters and digits>.cloudfront.localhost`) answers on
  the sandbox's port as CloudFront's edge: its behaviours, a cache per the cache policy's TTLs and the
  origin's Cache-Control (X-Cache Hit/Miss, Age, Via), and the origin fetched through
  `Edge.request` from an address of the origin-facing managed prefix list, so a load balancer's
  security group that admits only that list lets CloudFront in and keeps this machine out. It is no
  loop: it answers requests, reading distributions through the adapter.

Every loop writes to moto's state through `DataPlane.changing(account, services, lasting)`:
under the account's lock, as a request does, then marked for the store (issue 15).

server.py stays the request front: it hands requests for `*.localhost` hosts,
`/_bootcamp/imds/` and `/_bootcamp/dataplane` (the apps that run: GET, ?account= filters) to
`DataPlane.wsgi`, and starts the loops in `main`.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import parse_qs

TICK = 0.5  # seconds between two passes of the loops
STATUS_PATH = "/_bootcamp/dataplane"


def unguarded(account: str, services: tuple[str, ...] = (), lasting: bool = True):
    """A loop's writes where there is no store (a loop made on its own, in a test): no lock, nothing marked."""
    return nullcontext()


class DataPlane:
    """The controllers of one sandbox process, their loop thread and their request entry."""

    def __init__(self, home: Path, endpoint: str, store=None):
        from bootcamp.sandbox.dataplane import (adapter, clock, cloudfront, edge, health, instances, metadata, metrics,
                                                scaling)

        adapter.install_hooks()
        adapter.install_balancer_hooks()
        adapter.install_scaling_hooks()
        adapter.install_metrics_hooks()
        adapter.install_view_hooks()
        self.home = Path(home)
        self.endpoint = endpoint
        self.store = store  # bootcamp.sandbox.store.Store: what the loops change is kept as a request's is
        self.clock = clock.Clock()
        self.metadata = metadata.MetadataService()
        self.instances = instances.Instances(self.home / "dataplane", endpoint, self.metadata)
        self.health = health.Health(self.instances, self.clock)
        self.edge = edge.Edge(self.instances, self.health)
        self.proxied = edge.proxied
        self.balancer = self.edge.balancer
        self.cloudfront = cloudfront.CloudFront(self.edge, self.clock)
        adapter.observe(self.instances)
        adapter.observe_health(self.health)
        self.scaling = scaling.Scaling(self.clock, self.instances, self.changing)
        self.metrics = metrics.Metrics(self.clock, self.instances, self.changing)
        adapter.watch_activities(self.metrics.notifications.hear)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dataplane", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.instances.wake.wait(TICK)
            self.instances.wake.clear()
            if not self._stop.is_set():
                self.reconcile()

    def reconcile(self) -> None:
        for part in (self.instances, self.health, self.scaling, self.metrics):
            try:
                part.reconcile()
            except Exception as exc:  # one bad pass must not end the loop, nor stop the other parts
                print(f"dataplane: {type(part).__name__.lower()} pass failed: {exc!r}", flush=True)

    @contextmanager
    def changing(self, account: str, services: tuple[str, ...] = ("autoscaling",), lasting: bool = True):
        """A loop's change to an account's moto state: under the account's lock, as a request's,
        then marked for the store in the units of `services` (Auto Scaling, EC2, ELB and CloudWatch
        are one "compute" unit). `lasting=False` (metric datapoints) takes the lock without marking:
        a dump a period would cost more than the datapoints are worth; the next change saves them."""
        if self.store is None or self.store.folder is None:
            yield
            return
        from bootcamp.sandbox.store import unit_of

        try:
            with self.store.account_lock(account):
                yield
        finally:
            if lasting:
                self.store.mark({(account, unit_of(s)) for s in services})

    def stop(self) -> None:
        """Stop every app now (the loop, a daemon thread, ends at its next wake-up)."""
        self._stop.set()
        self.instances.wake.set()
        self.health.stop()
        self.instances.stop_all()

    def handles(self, environ) -> bool:
        """Whether a request is the data plane's: to an instance's public name, to a metadata service,
        or /_bootcamp/dataplane (what runs)."""
        path = environ.get("PATH_INFO", "")
        if (".localhost" not in environ.get("HTTP_HOST", "").lower() and not path.startswith("/_bootcamp/")
                and not self.proxied(environ)):
            return False  # an AWS API call, most requests: every name below is under .localhost
        return (self.edge.handles(environ) or self.cloudfront.handles(environ) or path.startswith(self.metadata.PREFIX)
                or path == STATUS_PATH)

    def wsgi(self, environ, start_response):
        if self.cloudfront.handles(environ):
            return self.cloudfront.wsgi(environ, start_response)
        if self.edge.handles(environ):
            return self.edge.wsgi(environ, start_response)
        if environ.get("PATH_INFO") == STATUS_PATH:
            account = parse_qs(environ.get("QUERY_STRING", "")).get("account", [""])[0]
            body = json.dumps(self.status(account)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.metadata.wsgi(environ, start_response)

    def status(self, account: str = "") -> dict:
        """The apps that run (all, or one account's), and the cap."""
        with self.instances.lock:
            apps = [{"account": a.instance.account, "region": a.instance.region, "instance": a.instance.id,
                     "port": a.port, "pid": a.proc.pid if a.proc else None, "restarts": a.restarts}
                    for a in self.instances.apps.values() if not account or a.instance.account == account]
        return {"apps": apps, "max_apps": self.instances.cap}
