from setuptools import find_packages, setup

PACKAGE = "visuomotor"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    package_data={PACKAGE: ["py.typed", "sim/assets/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["numpy", "scipy", "pyyaml"],
    zip_safe=False,
    description="Pure-Python core of the visuomotor stack (no rclpy).",
    license="Apache-2.0",
    entry_points={"console_scripts": ["visuomotor = visuomotor.cli:main"]},
)
